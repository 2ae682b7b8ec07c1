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
