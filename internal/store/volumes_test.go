package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestVolumes(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	alice, bob := addUser(t, db, "alice"), addUser(t, db, "bob")
	v := store.Volume{UserID: alice, Name: "data", Size: 1 << 30, State: store.StateCreating, Created: time.Unix(200, 0)}
	id, err := st.Volumes.Insert(ctx, db, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Volumes.Insert(ctx, db, v); !errors.Is(err, store.ErrUnique) {
		t.Fatalf("second data of alice's: %v", err)
	}
	v.UserID = bob
	if _, err := st.Volumes.Insert(ctx, db, v); err != nil {
		t.Fatalf("bob's data: %v", err)
	}
	if _, err := st.Volumes.Get(ctx, db, "bob", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	got, err := st.Volumes.Get(ctx, db, "alice", "data")
	if err != nil || got.ID != id || got.Owner != "alice" || got.State != store.StateCreating || got.Created != time.Unix(200, 0).UTC() {
		t.Fatalf("get: %+v %v", got, err)
	}
	n, size, err := st.Volumes.Usage(ctx, db, alice)
	if err != nil || n != 1 || size != 1<<30 {
		t.Fatalf("usage: %d %d %v", n, size, err)
	}
	_ = st.Volumes.SetState(ctx, db, id, store.StateReady)
	if err := st.Volumes.DeleteReservation(ctx, db, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a ready volume is no reservation: %v", err)
	}
	checkAttachments(t, db, alice, id)
	_ = st.Volumes.Pin(ctx, db, id, "s1")
	if err := st.Volumes.Delete(ctx, db, id); err != nil {
		t.Fatal(err)
	}
	if pins, _ := st.Volumes.Pins(ctx, db, id); len(pins) != 0 {
		t.Fatalf("pins outlived the volume: %v", pins)
	}
	// A user who owns a volume cannot be deleted.
	if err := st.Users.Delete(ctx, db, "bob"); !errors.Is(err, store.ErrForeignKey) {
		t.Fatalf("user with a volume: %v", err)
	}
}

// checkAttachments attaches alice's volume id to a new container "dev":
// once only, no delete of the volume meanwhile, and the attachment goes
// with the container's row.
func checkAttachments(t *testing.T, db store.Querier, alice store.UserID, id store.VolumeID) {
	t.Helper()
	ctx := context.Background()
	c := addContainer(t, db, alice, "dev")
	a := store.Attachment{VolumeID: id, ContainerID: c, Path: "/mnt/data", State: store.AttachReady}
	if err := st.Volumes.Attach(ctx, db, a); err != nil {
		t.Fatal(err)
	}
	if err := st.Volumes.Attach(ctx, db, a); !errors.Is(err, store.ErrUnique) {
		t.Fatalf("attached twice: %v", err)
	}
	if err := st.Volumes.Delete(ctx, db, id); !errors.Is(err, store.ErrForeignKey) {
		t.Fatalf("deleted while attached: %v", err)
	}
	if as, _ := st.Volumes.Attachments(ctx, db, "alice"); len(as) != 1 || as[0].Container != "dev" || as[0].Volume != "data" {
		t.Fatalf("attachments: %+v", as)
	}
	if as, _ := st.Volumes.Attachments(ctx, db, "bob"); len(as) != 0 {
		t.Fatalf("bob's attachments: %+v", as)
	}
	// The container's row takes its attachments along; the volume stays.
	if err := st.Containers.Delete(ctx, db, c); err != nil {
		t.Fatal(err)
	}
	if as, _ := st.Volumes.Attachments(ctx, db, ""); len(as) != 0 {
		t.Fatalf("after the container: %+v", as)
	}
}
