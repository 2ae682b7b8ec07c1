package shell

import (
	"context"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/webauth"
)

func TestWebAndTokenCommands(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	us := users.New(db)
	for _, n := range []string{"alice", "bob"} {
		if _, err := us.Add(ctx, n, users.RoleUser, ""); err != nil {
			t.Fatal(err)
		}
	}
	wa := webauth.New(db, "https://gw.example/")
	sh, _, rec := newShellWith(Options{Web: wa})

	secret := checkWebLink(ctx, t, sh, wa)
	checkTokens(ctx, t, sh, wa, rec, secret)
	cookie, _, err := wa.Redeem(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := exec(sh, alice, false, "web --logout-all", ""); code != 0 || !strings.Contains(errs, "Signed out 1") {
		t.Fatalf("logout-all: %d %q", code, errs)
	}
	if _, err := wa.SessionUser(ctx, cookie); err == nil {
		t.Fatal("a session outlived web --logout-all")
	}
}

// checkWebLink asks for a sign-in link and returns its secret.
func checkWebLink(ctx context.Context, t *testing.T, sh *Shell, wa *webauth.Auth) string {
	t.Helper()
	code, out, errs := exec(sh, alice, false, "web", "")
	if code != 0 || !strings.HasPrefix(out, "https://gw.example/signin?t=lxgl_") || !strings.Contains(errs, "works once") {
		t.Fatalf("web: %d %q %q", code, out, errs)
	}
	secret := strings.TrimPrefix(strings.TrimSpace(out), "https://gw.example/signin?t=")
	if u, err := wa.LinkUser(ctx, secret); err != nil || u != "alice" {
		t.Fatalf("link user: %q %v", u, err)
	}
	return secret
}

// checkTokens creates, lists and revokes alice's API tokens: neither a token
// nor the sign-in secret reaches the audit, and bob cannot revoke hers.
func checkTokens(ctx context.Context, t *testing.T, sh *Shell, wa *webauth.Auth, rec *recorder, secret string) {
	t.Helper()
	code, out, errs := exec(sh, alice, false, "token create --name ci --expires 30d", "")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := lines[len(lines)-1]
	if code != 0 || !strings.HasPrefix(tok, webauth.TokenPrefix) || len(tok) != 47 || strings.Contains(errs, tok) {
		t.Fatalf("token create: %d %q %q", code, out, errs)
	}
	if u, err := wa.TokenUser(ctx, tok); err != nil || u != "alice" {
		t.Fatalf("token user: %q %v", u, err)
	}
	for _, e := range rec.events {
		if strings.Contains(e.Detail, tok) || strings.Contains(e.Detail, secret) {
			t.Fatalf("a secret reached the audit: %+v", e)
		}
	}
	if code, out, _ := exec(sh, alice, false, "token list --json", ""); code != 0 || !strings.Contains(out, `"name": "ci"`) || !strings.Contains(out, `"last_used"`) {
		t.Fatalf("token list: %d %q", code, out)
	}
	bob := users.User{Name: "bob", Role: users.RoleUser}
	if code, _, errs := exec(sh, bob, false, "token revoke 1", ""); code != 1 || !strings.Contains(errs, "no such token") {
		t.Fatalf("bob revoked alice's token: %d %q", code, errs)
	}
	for _, line := range []string{"token revoke x", "token revoke", "token revoke 1 --all", "token create extra", "token nope", "token create --expires soon"} {
		if code, _, _ := exec(sh, alice, false, line, ""); code != 2 {
			t.Errorf("%s: status %d, want 2", line, code)
		}
	}
	if code, _, errs := exec(sh, alice, false, "token revoke 1", ""); code != 0 || !strings.Contains(errs, "Revoked token 1") {
		t.Fatalf("revoke: %d %q", code, errs)
	}
	if _, err := wa.TokenUser(ctx, tok); err == nil {
		t.Fatal("a revoked token still works")
	}
	exec(sh, alice, false, "token create", "")
	if code, _, errs := exec(sh, alice, false, "token revoke --all", ""); code != 0 || !strings.Contains(errs, "Revoked 1 token(s)") {
		t.Fatalf("revoke --all: %d %q", code, errs)
	}
}
