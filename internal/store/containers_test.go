package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestContainers(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	alice, bob := addUser(t, db, "alice"), addUser(t, db, "bob")
	at := time.Unix(3000, 0)
	dev := store.Container{UserID: alice, Name: "dev", Image: "img", CPU: 2, Memory: 1 << 30, Disk: 5 << 30,
		GPUs: "0000:01:00.0", GPUCount: 1, State: store.StateCreating, Created: at}
	id, err := st.Containers.Insert(ctx, db, dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    store.Container
		want error
	}{
		{store.Container{UserID: alice, Name: "dev", State: store.StateReady}, store.ErrUnique},
		{store.Container{UserID: bob, Name: "dev", State: store.StateReady}, nil}, // names are per user
		{store.Container{UserID: 99, Name: "x", State: store.StateReady}, store.ErrForeignKey},
		{store.Container{UserID: alice, Name: "y", State: "lost"}, store.ErrConstraint},
	} {
		if _, err := st.Containers.Insert(ctx, db, tc.c); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("insert %+v: %v, want %v", tc.c, err, tc.want)
		}
	}
	got, err := st.Containers.Get(ctx, db, "alice", "dev")
	dev.ID, dev.Owner, dev.Created = id, "alice", at.UTC()
	if err != nil || got != dev {
		t.Fatalf("get:\n%+v\nwant\n%+v (%v)", got, dev, err)
	}
	if _, err := st.Containers.Get(ctx, db, "bob", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	addContainer(t, db, alice, "box")
	u, err := st.Containers.Usage(ctx, db, alice)
	if err != nil || u != (store.Usage{Containers: 2, CPU: 2, Memory: 1 << 30, Disk: 5 << 30, GPUs: 1}) {
		t.Fatalf("usage: %+v %v", u, err)
	}
	for owner, want := range map[string][]string{"alice": {"box", "dev"}, "bob": {"dev"}, "": {"alice/box", "alice/dev", "bob/dev"}} {
		list, err := st.Containers.List(ctx, db, owner)
		if err != nil || len(list) != len(want) {
			t.Fatalf("list %q: %+v %v", owner, list, err)
		}
		for i, c := range list {
			if n := c.Name; (owner == "" && c.Owner+"/"+n != want[i]) || (owner != "" && n != want[i]) {
				t.Errorf("list %q [%d] = %s/%s, want %s", owner, i, c.Owner, n, want[i])
			}
		}
	}
}

// States: a reservation is dropped only while it is one, and a container
// being deleted is not found but still holds its name.
func TestContainerStates(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	alice := addUser(t, db, "alice")
	id, err := st.Containers.Insert(ctx, db, store.Container{UserID: alice, Name: "dev", State: store.StateCreating})
	if err != nil {
		t.Fatal(err)
	}
	tmp := addContainer(t, db, alice, "tmp")
	if err := st.Containers.SetState(ctx, db, tmp, store.StateCreating); err != nil {
		t.Fatal(err)
	}
	if err := st.Containers.DeleteReservation(ctx, db, tmp); err != nil {
		t.Fatalf("drop a reservation: %v", err)
	}
	if err := st.Containers.SetState(ctx, db, id, store.StateReady); err != nil {
		t.Fatal(err)
	}
	if err := st.Containers.DeleteReservation(ctx, db, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dropped a ready container as a reservation: %v", err)
	}
	if err := st.Containers.SetState(ctx, db, id, store.StateDeleting); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Containers.Get(ctx, db, "alice", "dev"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get while deleting: %v", err)
	}
	if ok, err := st.Containers.Exists(ctx, db, alice, "dev"); err != nil || !ok {
		t.Fatalf("exists while deleting: %v %v", ok, err)
	}
	if err := st.Containers.Delete(ctx, db, id); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"delete":    st.Containers.Delete(ctx, db, id),
		"state":     st.Containers.SetState(ctx, db, id, store.StateReady),
		"unreserve": st.Containers.DeleteReservation(ctx, db, id),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a deleted row: %v", name, err)
		}
	}
	if ok, err := st.Containers.Exists(ctx, db, alice, "dev"); err != nil || ok {
		t.Fatalf("exists after delete: %v %v", ok, err)
	}
}
