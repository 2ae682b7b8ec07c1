package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

// Regression: routed addresses were held in one process's memory, so two
// gateways on one database could hand out the same one. The database
// allows an address once per subnet, whichever process asks; a create's
// claim is bound by its reservation's insert and goes with the row.
func TestRoutedAddresses(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "lxcgate.db")
	db1, db2 := storetest.OpenFile(t, file), storetest.OpenFile(t, file) // two gateways' handles
	alice := addUser(t, db1, "alice")
	const subnet = "10.200.1.128/25"
	now := time.Now()
	claim := store.RoutedAddress{Subnet: subnet, Address: "10.200.1.130", UserID: alice, Name: "dev", ClaimedAt: now}
	if err := st.Routed.Claim(ctx, db1, claim); err != nil {
		t.Fatal(err)
	}
	other := claim
	other.Name = "web"
	if err := st.Routed.Claim(ctx, db2, other); !errors.Is(err, store.ErrUnique) {
		t.Fatalf("the second gateway took the same address: %v", err)
	}
	other.Subnet = "10.200.2.128/25" // another member's subnet: its own numbering
	if err := st.Routed.Claim(ctx, db2, other); err != nil {
		t.Fatal(err)
	}
	// The reservation binds the claim; a bound claim survives Unclaim.
	id, err := st.Containers.Insert(ctx, db2, store.Container{UserID: alice, Name: "dev", State: store.StateCreating})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Routed.Unclaim(ctx, db1, subnet, claim.Address); err != nil {
		t.Fatal(err)
	}
	list, err := st.Routed.List(ctx, db1)
	if err != nil || len(list) != 2 || list[0].ContainerID != id || list[0].Owner != "alice" || list[1].ContainerID != 0 {
		t.Fatalf("after the reservation: %+v %v", list, err)
	}
	// Undoing the create (or deleting the container) frees the address.
	if err := st.Containers.DeleteReservation(ctx, db1, id); err != nil {
		t.Fatal(err)
	}
	if taken, err := st.Routed.Taken(ctx, db2, subnet); err != nil || len(taken) != 0 {
		t.Fatalf("after the undo: %v %v", taken, err)
	}
	// An unbound claim, of a create that died before its reservation,
	// goes once it is old enough; a fresh one stays.
	if n, err := st.Routed.DeleteUnbound(ctx, db1, other.Subnet, now.Add(-time.Minute)); err != nil || n != 0 {
		t.Fatalf("fresh claim dropped: %d %v", n, err)
	}
	if n, err := st.Routed.DeleteUnbound(ctx, db1, other.Subnet, now.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("stale claim kept: %d %v", n, err)
	}
}
