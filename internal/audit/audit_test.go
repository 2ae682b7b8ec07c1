package audit

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestSafeName(t *testing.T) {
	long := strings.Repeat("a", 20_000)
	for _, tc := range []struct {
		name, in, want string
		plausible      bool
	}{
		{"plain", "alice", "alice", true},
		{"unicode printable", "émile", "émile", true},
		{"64 bytes", strings.Repeat("b", 64), strings.Repeat("b", 64), true},
		{"65 bytes", strings.Repeat("b", 65), `"` + strings.Repeat("b", 32) + `"…(65 bytes)`, false},
		{"20 kB", long, `"` + strings.Repeat("a", 32) + `"…(20000 bytes)`, false},
		{"newline", "alice\nroot", `"alice\nroot"`, false},
		{"escape", "\x1b[31mred", `"\x1b[31mred"`, false},
		{"bidi override", "ad\u202emin", `"ad\u202emin"`, false},
		{"invalid utf-8", "al\xffice", `"al\xffice"`, false},
		{"nul", "a\x00b", `"a\x00b"`, false},
		{"empty", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PlausibleName(tc.in); got != tc.plausible {
				t.Errorf("PlausibleName = %v, want %v", got, tc.plausible)
			}
			got := SafeName(tc.in)
			if got != tc.want {
				t.Errorf("SafeName = %q, want %q", got, tc.want)
			}
			if len(got) > 200 {
				t.Errorf("safe form is %d bytes", len(got))
			}
		})
	}
}

// Hostile bytes of every kind never produce a safe form that is long, or
// that holds a control character.
func TestSafeNameBounded(t *testing.T) {
	for b := 0; b < 256; b++ {
		in := strings.Repeat(string([]byte{byte(b)}), 100)
		out := SafeName(in)
		if len(out) > 200 {
			t.Fatalf("byte %#x: %d bytes", b, len(out))
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("byte %#x: control character in %q", b, out)
			}
		}
	}
}

func TestRecordClampsFields(t *testing.T) {
	db := storetest.Open(t)
	l := New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l.Record(context.Background(), Event{Kind: KindLogin, User: strings.Repeat("u", 100_000), Detail: strings.Repeat("d", 100_000)})
	var user, detail string
	if err := db.QueryRow(`SELECT user, detail FROM audit`).Scan(&user, &detail); err != nil {
		t.Fatal(err)
	}
	if len(user) > 400 || len(detail) > 9000 {
		t.Fatalf("stored user %d bytes, detail %d bytes", len(user), len(detail))
	}
}
