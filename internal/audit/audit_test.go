package audit

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

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

func TestSampler(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewSampler(time.Minute, 3)
	s.now = func() time.Time { return now }
	if ok, n := s.Allow("account alice"); !ok || n != 0 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for i := 0; i < 50; i++ {
		if ok, _ := s.Allow("account alice"); ok {
			t.Fatalf("attempt %d recorded within the period", i)
		}
	}
	if ok, _ := s.Allow("address 10.0.0.1"); !ok {
		t.Fatal("another key was suppressed")
	}
	now = now.Add(time.Minute)
	if ok, n := s.Allow("account alice"); !ok || n != 50 {
		t.Fatalf("after the period: %v, suppressed %d, want 50", ok, n)
	}
	// Keys a flood adds past the bound share one overflow key.
	for i := 0; i < 100; i++ {
		s.Allow("address 10.1.0." + string(rune('a'+i%26)) + strings.Repeat("x", i))
	}
	if len(s.seen) > 3+1 {
		t.Fatalf("%d keys held, bound 3 (+ overflow)", len(s.seen))
	}
	// Suppressed events never reported in a record come out of Drain.
	s.Allow("account alice")
	s.Allow("account alice")
	now = now.Add(2 * time.Minute)
	if n := s.Drain(); n < 2 {
		t.Fatalf("Drain = %d, want at least the 2 alice events", n)
	}
	if n := s.Drain(); n != 0 {
		t.Fatalf("second Drain = %d", n)
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

func TestBurstSampler(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewBurstSampler(time.Minute, 5, 10)
	s.SetClock(func() time.Time { return now })
	let := 0
	for range 100 {
		if ok, _ := s.Allow("198.51.100.7"); ok {
			let++
		}
	}
	if let != 5 {
		t.Fatalf("%d of 100 let through in a period, want 5", let)
	}
	now = now.Add(time.Minute)
	if ok, n := s.Allow("198.51.100.7"); !ok || n != 95 {
		t.Fatalf("after the period: %v, suppressed %d, want 95", ok, n)
	}
}
