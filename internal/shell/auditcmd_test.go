package shell

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

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
	sh := New(Options{Users: &fakeUsers{}, Audit: &recorder{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Host: "gpu1", AuditLog: al})
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
