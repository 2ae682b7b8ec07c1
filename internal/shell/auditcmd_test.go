package shell

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestAuditCommand(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	al := audit.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tbl := store.New().Audit
	for _, e := range []store.AuditEvent{
		{At: time.Now().Add(-72 * time.Hour), Kind: audit.KindLogin, User: "alice", Remote: "192.0.2.1:1", Method: "password", Detail: "ok", OK: true},
		{At: time.Now().Add(-time.Hour), Kind: audit.KindLogin, User: "alice", Remote: "192.0.2.2:1", Method: "publickey", Detail: "ok", OK: true},
		{At: time.Now().Add(-time.Hour), Kind: audit.KindCommand, User: "alice", Detail: "list => ok", OK: true},
		{At: time.Now(), Kind: audit.KindLogin, User: "bob", Method: "password", Detail: "ok", OK: true},
		{At: time.Now(), Kind: audit.KindCommand, User: "root1", Detail: "user del bob => ok", OK: true},
	} {
		tbl.Insert(ctx, db, e)
	}
	sh := New(Options{Auth: &fakeUsers{}, Audit: &recorder{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Host: "gpu1", AuditLog: al})
	for _, tc := range []struct {
		line      string
		admin     bool
		code      int
		out, err  string
		not       []string
		wantLines int
	}{
		{line: "audit", out: "192.0.2.2:1", not: []string{"bob", "list => ok"}, wantLines: 3},
		{line: "audit --since 2h", not: []string{"192.0.2.1"}, wantLines: 2},
		{line: "audit --limit 1 --json", out: `"remote": "192.0.2.2:1"`, not: []string{"192.0.2.1"}},
		{line: "audit --user bob", code: 1, err: "--user needs the admin role"},
		{line: "audit --command list", code: 1, err: "--command needs the admin role"},
		{line: "audit --since soon", code: 2, err: "--since"},
		{line: "audit --limit 0", code: 2, err: "--limit must be positive"},
		{line: "audit", admin: true, out: "user del bob", wantLines: 6},
		{line: "audit --user bob", admin: true, out: "bob", not: []string{"alice"}, wantLines: 2},
		{line: "audit --command user", admin: true, out: "root1", wantLines: 2},
		{line: "audit --format csv", admin: true, out: "at,kind,user,remote,method,ok,detail\n"},
	} {
		u := alice
		if tc.admin {
			u = root
		}
		code, out, errw := exec(sh, u, false, tc.line, "")
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%s as %s: %d %q %q", tc.line, u.Name, code, out, errw)
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("%s as %s shows %q:\n%s", tc.line, u.Name, n, out)
			}
		}
		if tc.wantLines > 0 && strings.Count(out, "\n") != tc.wantLines {
			t.Errorf("%s as %s: %d lines, want %d:\n%s", tc.line, u.Name, strings.Count(out, "\n"), tc.wantLines, out)
		}
	}
	// The lobby may not read the trail.
	if code, _, errw := exec(sh, lobby, true, "audit", ""); code != 1 || !strings.Contains(errw, "lobby") {
		t.Fatalf("lobby audit: %d %q", code, errw)
	}
}

// Scenario: a row written before the audit package escaped at write (or
// by anything that bypassed it) holds terminal escapes and a newline; the
// admin's 'audit' must still print one line per row with no control
// character, in every format.
func TestAuditCommandEscapesStoredRows(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	al := audit.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	raw := "GET /api/\x1b[1A\x1b[2K\x1b[31mSPOOFED\n2026-01-01 00:00  login  root1 \u2028x\u0085\x9b => 404"
	store.New().Audit.Insert(ctx, db, store.AuditEvent{At: time.Now(), Kind: audit.KindWeb, User: "\x1b]0;t\x07",
		Remote: "1.2.3.4\r", Method: "none\x7f", Detail: raw})
	sh := New(Options{Auth: &fakeUsers{}, Audit: &recorder{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Host: "gpu1", AuditLog: al})
	for _, line := range []string{"audit", "audit --format csv", "audit --format yaml", "audit --json"} {
		code, out, errw := exec(sh, root, false, line, "")
		if code != 0 {
			t.Fatalf("%s: %d %q", line, code, errw)
		}
		if !strings.Contains(out, "SPOOFED") {
			t.Errorf("%s: the row is missing:\n%s", line, out)
		}
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			for _, r := range l {
				if r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0x2028 || r == 0x2029 || r == utf8.RuneError {
					t.Errorf("%s: %U in line %q", line, r, l)
				}
			}
		}
		if line == "audit" && strings.Count(out, "\n") != 2 {
			t.Errorf("%s: %d lines for one row:\n%s", line, strings.Count(out, "\n"), out)
		}
	}
}
