package users

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

func keyLine(t *testing.T) []byte {
	t.Helper()
	return gossh.MarshalAuthorizedKey(newKey(t))
}

func TestInviteMakesKeyOnlyUserAndRedeemsOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	inv, err := s.Invite(ctx, "carol", DefaultInviteTTL)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Created || inv.User.Name != "carol" || inv.User.HasPassword || inv.User.Keys != 0 {
		t.Fatalf("invitation: %+v", inv)
	}
	// 32 base32 characters in groups of four: 160 bits.
	if len(inv.Code) != 39 || strings.Count(inv.Code, "-") != 7 {
		t.Fatalf("code %q", inv.Code)
	}
	line := keyLine(t)
	// Typed loosely: lower case, spaces instead of dashes.
	typed := strings.ToLower(strings.ReplaceAll(inv.Code, "-", " "))
	u, k, err := s.Redeem(ctx, typed, line)
	if err != nil || u.Name != "carol" || k.Type != "ssh-ed25519" {
		t.Fatalf("redeem: %+v %+v %v", u, k, err)
	}
	pub, _, _, _, _ := gossh.ParseAuthorizedKey(line)
	if got, err := s.UserByKey(ctx, pub); err != nil || got.Name != "carol" {
		t.Fatalf("key login: %v %v", got, err)
	}
	if _, err := s.Authenticate(ctx, "carol", ""); !errors.Is(err, ErrAuth) {
		t.Fatalf("key-only user with empty password: %v", err)
	}
	if _, _, err := s.Redeem(ctx, inv.Code, keyLine(t)); !errors.Is(err, ErrInvite) {
		t.Fatalf("second redemption: %v", err)
	}
}

func TestInviteCodesStoredHashed(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	inv, err := s.Invite(ctx, "carol", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var hash []byte
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT code_hash, (SELECT count(*) FROM invites) FROM invites`).Scan(&hash, &n); err != nil {
		t.Fatal(err)
	}
	raw := strings.ReplaceAll(inv.Code, "-", "")
	if sum := sha256.Sum256([]byte(raw)); string(hash) != string(sum[:]) || n != 1 {
		t.Fatalf("stored %x (%d rows), want the SHA-256 of the code", hash, n)
	}
	var dump string
	s.db.QueryRowContext(ctx, `SELECT group_concat(quote(code_hash) || created_at || expires_at) FROM invites`).Scan(&dump)
	if strings.Contains(strings.ToUpper(dump), raw) {
		t.Fatal("the code itself is stored")
	}
}

func TestInviteWrongExpiredReplacedAreOneError(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Now()
	s.now = func() time.Time { return now }
	if _, err := s.Add(ctx, "dave", RoleUser, "correct horse"); err != nil {
		t.Fatal(err)
	}
	old, err := s.Invite(ctx, "dave", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := s.Invite(ctx, "dave", time.Hour)
	if err != nil || fresh.Created || !fresh.User.HasPassword {
		t.Fatalf("invite of an existing user: %+v %v", fresh, err)
	}
	for name, code := range map[string]string{"replaced": old.Code, "wrong": strings.Repeat("A", 32), "junk": "x';--", "long": strings.Repeat("A", 5000)} {
		if _, _, err := s.Redeem(ctx, code, keyLine(t)); !errors.Is(err, ErrInvite) {
			t.Errorf("%s code: %v", name, err)
		}
	}
	now = now.Add(time.Hour + time.Second)
	if _, _, err := s.Redeem(ctx, fresh.Code, keyLine(t)); !errors.Is(err, ErrInvite) {
		t.Fatalf("expired code: %v", err)
	}
}

func TestRedeemBadKeyLeavesCodeUnspent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	inv, err := s.Invite(ctx, "erin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"private": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
		"garbage": "hello", "two keys": string(keyLine(t)) + string(keyLine(t)), "empty": "",
	} {
		_, _, err := s.Redeem(ctx, inv.Code, []byte(in))
		if !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %v", name, err)
		}
		if name == "private" && (!strings.Contains(err.Error(), "private key") || strings.Contains(err.Error(), "b3Bl")) {
			t.Errorf("private key answer: %v", err)
		}
	}
	if _, _, err := s.Redeem(ctx, inv.Code, keyLine(t)); err != nil {
		t.Fatalf("code after bad keys: %v", err)
	}
}

func TestRedeemForDeletedOrDisabledUserIsInvalid(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	gone, _ := s.Invite(ctx, "frank", time.Hour)
	if err := s.Delete(ctx, "frank"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Redeem(ctx, gone.Code, keyLine(t)); !errors.Is(err, ErrInvite) {
		t.Fatalf("deleted user's code: %v", err)
	}
	off, _ := s.Invite(ctx, "gina", time.Hour)
	s.SetDisabled(ctx, "gina", true)
	if _, _, err := s.Redeem(ctx, off.Code, keyLine(t)); !errors.Is(err, ErrInvite) {
		t.Fatalf("disabled user's code: %v", err)
	}
}

func TestRedeemConcurrentlyOneWins(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	inv, _ := s.Invite(ctx, "hank", time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	lines := make([][]byte, len(errs))
	for i := range errs {
		lines[i] = keyLine(t)
	}
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, _, errs[i] = s.Redeem(ctx, inv.Code, lines[i]) }()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrInvite):
			t.Errorf("loser: %v", err)
		}
	}
	if u, _ := s.Get(ctx, "hank"); won != 1 || u.Keys != 1 {
		t.Fatalf("%d winners, %d keys", won, u.Keys)
	}
}

func TestInviteNameAndExpiryChecks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, name := range []string{InviteAccount, "Bad Name"} {
		if _, err := s.Invite(ctx, name, time.Hour); err == nil {
			t.Errorf("invite %q made", name)
		}
		if _, err := s.AddWithKeys(ctx, name, RoleUser, keyLine(t)); err == nil {
			t.Errorf("add %q made", name)
		}
	}
	if _, err := s.Add(ctx, InviteAccount, RoleUser, "correct horse"); !errors.Is(err, ErrReserved) {
		t.Fatalf("add invite: %v", err)
	}
	for _, ttl := range []time.Duration{0, -time.Hour, MaxInviteTTL + time.Second} {
		if _, err := s.Invite(ctx, "ivan", ttl); err == nil {
			t.Errorf("ttl %s accepted", ttl)
		}
	}
	if _, err := s.Get(ctx, "ivan"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused invite made a user: %v", err)
	}
}

func TestAddWithBadKeyMakesNoUser(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.AddWithKeys(ctx, "judy", RoleUser, []byte("ssh-ed25519 notbase64")); !errors.Is(err, ErrBadKey) {
		t.Fatalf("bad key: %v", err)
	}
	taken := keyLine(t)
	s.AddWithKeys(ctx, "kim", RoleUser, taken)
	if _, err := s.AddWithKeys(ctx, "judy", RoleUser, taken); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("taken key: %v", err)
	}
	if _, err := s.Get(ctx, "judy"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("orphan user: %v", err)
	}
}
