package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	at := time.Unix(1000, 0)
	alice, err := st.Users.Insert(ctx, db, "alice", "admin", "hash", at)
	if err != nil {
		t.Fatal(err)
	}
	bob := addUser(t, db, "bob")
	if _, err := st.Users.Insert(ctx, db, "alice", "user", "", at); !errors.Is(err, store.ErrUnique) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := st.UserKeys.Insert(ctx, db, store.Key{UserID: bob, Fingerprint: "SHA256:b", Type: "ssh-ed25519", PublicKey: "ssh-ed25519 AAAA", Created: at}); err != nil {
		t.Fatal(err)
	}
	u, hash, err := st.Users.GetWithHash(ctx, db, "alice")
	if err != nil || u.ID != alice || u.Role != "admin" || !u.HasPassword || hash != "hash" || !u.Created.Equal(at) || u.Keys != 0 {
		t.Fatalf("alice: %+v %q %v", u, hash, err)
	}
	u, key, err := st.Users.GetByKey(ctx, db, "SHA256:b")
	if err != nil || u.Name != "bob" || u.Keys != 1 || u.HasPassword || key != "ssh-ed25519 AAAA" {
		t.Fatalf("by key: %+v %q %v", u, key, err)
	}
	missingUserIsNotFound(t, db, at)
	if id, err := st.Users.ID(ctx, db, "bob"); err != nil || id != bob {
		t.Fatalf("id: %d %v", id, err)
	}
	if err := st.Users.SetDisabled(ctx, db, "bob", true, at); err != nil {
		t.Fatal(err)
	}
	if err := st.Users.SetPasswordHash(ctx, db, "bob", "new", at); err != nil {
		t.Fatal(err)
	}
	states, err := st.Users.Disabled(ctx, db)
	if err != nil || len(states) != 2 || !states["bob"] || states["alice"] {
		t.Fatalf("disabled: %v %v", states, err)
	}
	admins, err := st.Users.Admins(ctx, db)
	if err != nil || len(admins) != 1 || admins[0].Name != "alice" {
		t.Fatalf("admins: %+v %v", admins, err)
	}
	deleteOwner(t, db, bob)
	list, err := st.Users.List(ctx, db)
	if err != nil || len(list) != 1 || list[0].Name != "alice" {
		t.Fatalf("list: %+v %v", list, err)
	}
}

// missingUserIsNotFound: every call about a user that does not exist
// fails with ErrNotFound.
func missingUserIsNotFound(t *testing.T, db store.Querier, at time.Time) {
	t.Helper()
	ctx := context.Background()
	for name, f := range map[string]func() error{
		"get":      func() error { _, err := st.Users.Get(ctx, db, "carol"); return err },
		"id":       func() error { _, err := st.Users.ID(ctx, db, "carol"); return err },
		"by key":   func() error { _, _, err := st.Users.GetByKey(ctx, db, "SHA256:none"); return err },
		"disable":  func() error { return st.Users.SetDisabled(ctx, db, "carol", true, at) },
		"password": func() error { return st.Users.SetPasswordHash(ctx, db, "carol", "h", at) },
		"delete":   func() error { return st.Users.Delete(ctx, db, "carol") },
	} {
		if err := f(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a missing user: %v", name, err)
		}
	}
}

// deleteOwner: a user who owns a container cannot go; once it is gone they
// can, and their keys go with them.
func deleteOwner(t *testing.T, db store.Querier, bob store.UserID) {
	t.Helper()
	ctx := context.Background()
	cid := addContainer(t, db, bob, "dev")
	if err := st.Users.Delete(ctx, db, "bob"); !errors.Is(err, store.ErrForeignKey) {
		t.Fatalf("delete an owner: %v", err)
	}
	if err := st.Containers.Delete(ctx, db, cid); err != nil {
		t.Fatal(err)
	}
	if err := st.Users.Delete(ctx, db, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UserKeys.Holder(ctx, db, "SHA256:b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("keys outlived their user: %v", err)
	}
}

func TestUserKeys(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	alice, bob := addUser(t, db, "alice"), addUser(t, db, "bob")
	at := time.Unix(2000, 0)
	for _, tc := range []struct {
		uid  store.UserID
		fp   string
		want error
	}{
		{alice, "SHA256:a1", nil},
		{alice, "SHA256:a2", nil},
		{bob, "SHA256:a1", store.ErrUnique}, // one key, one user
		{alice, "SHA256:a2", store.ErrUnique},
		{store.UserID(99), "SHA256:x", store.ErrForeignKey},
	} {
		err := st.UserKeys.Insert(ctx, db, store.Key{UserID: tc.uid, Fingerprint: tc.fp, Type: "t", PublicKey: "k " + tc.fp, Comment: "c", Created: at})
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("insert %s for %d: %v, want %v", tc.fp, tc.uid, err, tc.want)
		}
	}
	if h, err := st.UserKeys.Holder(ctx, db, "SHA256:a1"); err != nil || h != "alice" {
		t.Fatalf("holder: %q %v", h, err)
	}
	keys, err := st.UserKeys.List(ctx, db, "alice")
	if err != nil || len(keys) != 2 || keys[0].Fingerprint != "SHA256:a1" || keys[1].PublicKey != "k SHA256:a2" || !keys[0].Created.Equal(at) {
		t.Fatalf("list: %+v %v", keys, err)
	}
	if keys, err := st.UserKeys.List(ctx, db, "bob"); err != nil || keys == nil || len(keys) != 0 {
		t.Fatalf("bob's keys: %#v %v", keys, err)
	}
	if err := st.UserKeys.Delete(ctx, db, "bob", "SHA256:a1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob deletes alice's key: %v", err)
	}
	if err := st.UserKeys.Delete(ctx, db, "alice", "SHA256:a1"); err != nil {
		t.Fatal(err)
	}
	if err := st.UserKeys.Delete(ctx, db, "alice", "SHA256:a1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted twice: %v", err)
	}
}
