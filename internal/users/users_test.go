package users

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/store/storetest"
	gossh "golang.org/x/crypto/ssh"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	db := storetest.Open(t)
	return New(db)
}

func newKey(t *testing.T) gossh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true}, {"_svc", true}, {"bob-2", true}, {"a", true},
		{strings.Repeat("a", 32), true}, {strings.Repeat("a", 33), false},
		{"", false}, {"Alice", false}, {"2bob", false}, {"-x", false}, {"a b", false},
		{"a;rm", false}, {"ä", false}, {"../etc", false},
	} {
		if err := ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestPasswordLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Add(ctx, "alice", RoleUser, "short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("short password: %v", err)
	}
	if _, err := s.Add(ctx, "alice", RoleUser, "correct horse"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "alice", RoleUser, "correct horse"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if u, err := s.Authenticate(ctx, "alice", "correct horse"); err != nil || u.Name != "alice" {
		t.Fatalf("authenticate: %v %v", u, err)
	}
	for _, bad := range [][2]string{{"alice", "wrong one"}, {"nobody", "correct horse"}, {"alice", ""}} {
		if _, err := s.Authenticate(ctx, bad[0], bad[1]); !errors.Is(err, ErrAuth) {
			t.Errorf("authenticate %v: %v", bad, err)
		}
	}
	if err := s.ChangePassword(ctx, "alice", "wrong one", "battery staple"); !errors.Is(err, ErrAuth) {
		t.Fatalf("change with wrong old: %v", err)
	}
	if err := s.ChangePassword(ctx, "alice", "correct horse", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "alice", "battery staple"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled: %v", err)
	}
}

func TestHashIsNotThePassword(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Add(ctx, "alice", RoleUser, "correct horse"); err != nil {
		t.Fatal(err)
	}
	var h string
	s.db.QueryRow(`SELECT password_hash FROM users`).Scan(&h)
	if !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, "correct horse") {
		t.Fatalf("stored %q", h)
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.Add(ctx, "alice", RoleUser, "")
	s.Add(ctx, "bob", RoleUser, "")
	k1, k2 := newKey(t), newKey(t)
	text := "# alice's keys\n\n" + string(gossh.MarshalAuthorizedKey(k1)) + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k2))) + " alice@laptop\n"
	added, err := s.AddKeys(ctx, "alice", []byte(text))
	if err != nil || len(added) != 2 || added[1].Comment != "alice@laptop" {
		t.Fatalf("add: %v %v", added, err)
	}
	if u, err := s.UserByKey(ctx, k2); err != nil || u.Name != "alice" {
		t.Fatalf("by key: %v %v", u, err)
	}
	// A key belongs to one user only; the whole batch fails and adds nothing.
	k3 := newKey(t)
	_, err = s.AddKeys(ctx, "bob", append(gossh.MarshalAuthorizedKey(k3), gossh.MarshalAuthorizedKey(k1)...))
	if !errors.Is(err, ErrKeyExists) {
		t.Fatalf("duplicate key: %v", err)
	}
	if keys, _ := s.Keys(ctx, "bob"); len(keys) != 0 {
		t.Fatalf("bob has %d keys after a failed batch", len(keys))
	}
	for _, bad := range []string{"", "not a key", `command="/bin/sh" ` + string(gossh.MarshalAuthorizedKey(k3))} {
		if _, err := s.AddKeys(ctx, "bob", []byte(bad)); !errors.Is(err, ErrBadKey) {
			t.Errorf("AddKeys(%q) = %v", bad, err)
		}
	}
	fp := gossh.FingerprintSHA256(k1)
	if err := s.DeleteKey(ctx, "bob", fp); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("bob deletes alice's key: %v", err)
	}
	if err := s.DeleteKey(ctx, "alice", fp); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByKey(ctx, k1); !errors.Is(err, ErrAuth) {
		t.Fatalf("deleted key still works: %v", err)
	}
	// Deleting the user takes the keys along.
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByKey(ctx, k2); !errors.Is(err, ErrAuth) {
		t.Fatalf("key of deleted user: %v", err)
	}
}

func TestLastAdminStays(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	s.Add(ctx, "root1", RoleAdmin, "")
	if err := s.Delete(ctx, "root1"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("delete last admin: %v", err)
	}
	if err := s.SetDisabled(ctx, "root1", true); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disable last admin: %v", err)
	}
	if err := s.SetRole(ctx, "root1", RoleUser); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demote last admin: %v", err)
	}
	if err := s.SetRole(ctx, "root1", "boss"); err == nil {
		t.Fatal("unknown role accepted")
	}
	if err := s.SetRole(ctx, "nobody", RoleAdmin); !errors.Is(err, ErrNotFound) {
		t.Fatalf("role of nobody: %v", err)
	}
	s.Add(ctx, "root2", RoleUser, "")
	if err := s.SetRole(ctx, "root2", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, "root1", RoleUser); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Get(ctx, "root1"); u.Role != RoleUser {
		t.Fatalf("root1 is %s", u.Role)
	}
	if err := s.Delete(ctx, "root1"); err != nil {
		t.Fatal(err)
	}
}

func TestRandomPassword(t *testing.T) {
	p := RandomPassword(20)
	if len(p) != 20 || CheckPasswordPolicy(p) != nil || p == RandomPassword(20) {
		t.Fatalf("RandomPassword: %q", p)
	}
}
