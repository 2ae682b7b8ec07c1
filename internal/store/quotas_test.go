package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/quota"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func i64(n int64) *int64 { return &n }
func num(n int) *int     { return &n }

// show lists a row's numbers in the table's order, nil where unset.
func show(q store.Quota) []any {
	var out []any
	for _, f := range quota.Fields {
		if f.Kind == quota.Group {
			continue
		}
		if v, ok := f.Changed(q); ok {
			out = append(out, v)
		} else {
			out = append(out, nil)
		}
	}
	return out
}

func TestQuotas(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	alice := addUser(t, db, "alice")
	q, err := st.Quotas.Get(ctx, db, alice)
	if err != nil || q != (store.Quota{}) {
		t.Fatalf("no row: %+v %v", show(q), err)
	}
	for i, tc := range []struct {
		set  store.Quota
		want []any
	}{
		{store.Quota{Containers: num(3), Memory: i64(1 << 30)}, []any{int64(3), nil, int64(1 << 30), nil, nil, nil, nil, nil}},
		{store.Quota{CPU: num(4), Snapshots: num(0)}, []any{int64(3), int64(4), int64(1 << 30), nil, nil, nil, int64(0), nil}},
		{store.Quota{Containers: num(5), Disk: i64(7), GPUs: num(1), Ports: num(2), Volumes: num(4)},
			[]any{int64(5), int64(4), int64(1 << 30), int64(7), int64(1), int64(2), int64(0), int64(4)}},
		{store.Quota{}, []any{int64(5), int64(4), int64(1 << 30), int64(7), int64(1), int64(2), int64(0), int64(4)}},
	} {
		if err := st.Quotas.Set(ctx, db, alice, tc.set); err != nil {
			t.Fatal(err)
		}
		q, err := st.Quotas.Get(ctx, db, alice)
		if err != nil {
			t.Fatal(err)
		}
		got := show(q)
		for j := range got {
			if got[j] != tc.want[j] {
				t.Errorf("step %d: %v, want %v", i, got, tc.want)
				break
			}
		}
	}
	if err := st.Quotas.Set(ctx, db, 99, store.Quota{CPU: num(1)}); !errors.Is(err, store.ErrForeignKey) {
		t.Fatalf("quota of no user: %v", err)
	}
	// The quota goes with its user.
	if err := st.Users.Delete(ctx, db, "alice"); err != nil {
		t.Fatal(err)
	}
	if q, err := st.Quotas.Get(ctx, db, alice); err != nil || q != (store.Quota{}) {
		t.Fatalf("after the user: %+v %v", show(q), err)
	}
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	for i, e := range []store.AuditEvent{
		{At: time.Unix(10, 0), Kind: "login", User: "alice", Remote: "10.0.0.1:5000", Method: "password", OK: true},
		{At: time.Unix(11, 0), Kind: "command", User: "alice", Detail: "list", OK: true},
		{At: time.Unix(12, 0), Kind: "refusal", User: "bob", Detail: "why"},
	} {
		if err := st.Audit.Insert(ctx, db, e); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	got, err := st.Audit.Recent(ctx, db, 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("recent: %+v %v", got, err)
	}
	want := store.AuditEvent{At: time.Unix(12, 0).UTC(), Kind: "refusal", User: "bob", Detail: "why"}
	if got[0] != want || got[1].Kind != "command" || !got[1].OK {
		t.Fatalf("recent: %+v", got)
	}
}
