package audit

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"unicode/utf8"

	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

// hostile holds every kind of character that moves a terminal's cursor,
// recolours it or starts a new line: C0, DEL, C1 (as runes and as a raw
// 8-bit byte), the Unicode line and paragraph separators.
const hostile = "a\x1b[1A\x1b[2K\x1b[31mSPOOFED\nb\rc\td\x00e\x7ff\u0085g\u009b2Jh\u2028i\u2029j\x9bk"

// controlFree reports the first character of s a terminal would act on.
func controlFree(s string) (rune, bool) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
			return r, false
		}
		i += n
	}
	return 0, true
}

// Scenario: an unauthenticated 'GET /api/%1b[1A%1b[2K%1b[31mSPOOFED' or a
// shell argument with a newline reaches the audit trail; an admin's
// terminal running 'audit' must not move its cursor, recolour or show a
// fake row. Every field of every front end goes through Record.
func TestRecordEscapesControls(t *testing.T) {
	db := storetest.Open(t)
	l := New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l.Record(context.Background(), Event{Kind: KindWeb, User: hostile, Remote: hostile, Method: hostile, Detail: hostile})
	l.RecordSoon(context.Background(), Event{Kind: KindCommand, User: "alice", Detail: "echo " + hostile})
	rows, err := l.Query(context.Background(), Filter{})
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %+v, %v", rows, err)
	}
	for _, r := range rows {
		for _, f := range []string{r.Kind, r.User, r.Remote, r.Method, r.Detail} {
			if c, ok := controlFree(f); !ok {
				t.Errorf("stored %q holds %U", f, c)
			}
		}
	}
	want := `a\x1b[1A\x1b[2K\x1b[31mSPOOFED\nb\rc\td\x00e\x7ff\u0085g\u009b2Jh\u2028i\u2029j\x9bk`
	if rows[1].User != want {
		t.Errorf("escaped as %q, want %q", rows[1].User, want)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "",
		"GET /api/v1/me => 200": "GET /api/v1/me => 200",
		"émile ✓":               "émile ✓",
		`already \x1b escaped`:  `already \x1b escaped`,
		"\x1b":                  `\x1b`,
		"\u200b":                "\u200b",            // invisible, but moves nothing
		"ad\u202emin\u2066":     `ad\u202emin\u2066`, // bidi controls reorder what the admin reads
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	// Escaping twice changes nothing: the viewer escapes again.
	if once := Escape(hostile); Escape(once) != once {
		t.Errorf("not idempotent: %q then %q", once, Escape(once))
	}
}
