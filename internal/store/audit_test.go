package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestAuditQueryAndPrune(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	a := store.New().Audit
	now := time.Now()
	for _, e := range []store.AuditEvent{
		{At: now.Add(-48 * time.Hour), Kind: "login", User: "alice", OK: true},
		{At: now.Add(-2 * time.Hour), Kind: "command", User: "alice", Detail: "list => ok", OK: true},
		{At: now.Add(-time.Hour), Kind: "command", User: "bob", Detail: "listx => ok", OK: true},
		{At: now.Add(-time.Hour), Kind: "command", User: "bob", Detail: "list --json => ok", OK: true},
		{At: now, Kind: "login", User: "alice", OK: false},
	} {
		if err := a.Insert(ctx, db, e); err != nil {
			t.Fatal(err)
		}
	}
	count := func(f store.AuditFilter) int {
		t.Helper()
		got, err := a.Query(ctx, db, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	for _, tc := range []struct {
		f    store.AuditFilter
		want int
	}{
		{store.AuditFilter{}, 5},
		{store.AuditFilter{User: "alice"}, 3},
		{store.AuditFilter{User: "alice", Kind: "login"}, 2},
		{store.AuditFilter{Since: now.Add(-3 * time.Hour)}, 4},
		{store.AuditFilter{Command: "list"}, 2},
		{store.AuditFilter{Command: "list", User: "bob"}, 1},
		{store.AuditFilter{Limit: 2}, 2},
		{store.AuditFilter{Limit: 100000}, 5},
	} {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%+v: %d rows, want %d", tc.f, got, tc.want)
		}
	}
	got, _ := a.Query(ctx, db, store.AuditFilter{User: "alice"})
	if got[0].Kind != "login" || got[0].OK {
		t.Errorf("not newest first: %+v", got)
	}
	n, err := a.Prune(ctx, db, now.Add(-24*time.Hour))
	if err != nil || n != 1 || count(store.AuditFilter{}) != 4 {
		t.Fatalf("prune: %d %v", n, err)
	}
}

func TestAuditTrim(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	a := store.New().Audit
	for i := range 30 {
		a.Insert(ctx, db, store.AuditEvent{At: time.Now(), Kind: "web", User: string(rune('a' + i%26))})
	}
	if n, err := a.Trim(ctx, db, 100); err != nil || n != 0 {
		t.Fatalf("trim under the cap: %d, %v", n, err)
	}
	if n, err := a.Trim(ctx, db, 10); err != nil || n != 20 {
		t.Fatalf("trim to 10: %d, %v", n, err)
	}
	if got, _ := a.Recent(ctx, db, 100); len(got) != 10 || got[9].User != "u" {
		t.Fatalf("kept %+v", got)
	}
}

// Scenario: a service inserts its own audit row (a GPU repair naming
// device names) straight into the table, past the audit package: the
// table escapes it all the same.
func TestAuditInsertEscapes(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	a := store.New().Audit
	bad := "gpu\x1b[2K\nroot\u2028\x9b"
	a.Insert(ctx, db, store.AuditEvent{At: time.Now(), Kind: "auto", User: bad, Detail: bad})
	store.InsertAudit(ctx, db, []store.AuditEvent{{At: time.Now(), Kind: "auto", Remote: bad, Method: bad}, {At: time.Now(), Kind: bad}})
	got, err := a.Recent(ctx, db, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("%+v %v", got, err)
	}
	const want = `gpu\x1b[2K\nroot\u2028\x9b`
	if got[2].User != want || got[2].Detail != want || got[1].Remote != want || got[1].Method != want || got[0].Kind != want {
		t.Fatalf("stored %+v", got)
	}
}
