package webauth_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/webauth"
)

func setup(t *testing.T) (*webauth.Auth, *sql.DB, *users.Store, *time.Time) {
	t.Helper()
	db := storetest.Open(t)
	us := users.New(db)
	for _, n := range []string{"alice", "bob"} {
		if _, err := us.Add(context.Background(), n, users.RoleUser, ""); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(1_800_000_000, 0)
	a := webauth.New(db, "https://gw.example/")
	a.SetClock(func() time.Time { return now })
	return a, db, us, &now
}

// dump is every text in the web tables, to look for a secret in clear.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{`SELECT hash FROM web_links`, `SELECT hash FROM web_sessions`, `SELECT hash || name FROM api_tokens`} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			b.WriteString(s + "\n")
		}
		rows.Close()
	}
	return b.String()
}

func TestLinks(t *testing.T) {
	ctx := context.Background()
	a, db, _, now := setup(t)
	link, exp, err := a.SignIn(ctx, "alice")
	if err != nil || !strings.HasPrefix(link, "https://gw.example/signin?t=lxgl_") || !exp.Equal(now.Add(webauth.LinkTTL)) {
		t.Fatalf("link %q %v %v", link, exp, err)
	}
	secret := strings.TrimPrefix(link, "https://gw.example/signin?t=")
	if strings.Contains(dump(t, db), secret) {
		t.Fatal("a link is stored in clear")
	}
	if u, err := a.LinkUser(ctx, secret); u != "alice" || err != nil {
		t.Fatalf("peek: %q %v", u, err)
	}
	cookie, u, err := a.Redeem(ctx, secret)
	if err != nil || u != "alice" || !strings.HasPrefix(cookie, "lxgs_") {
		t.Fatalf("redeem: %q %q %v", cookie, u, err)
	}
	if _, _, err := a.Redeem(ctx, secret); !errors.Is(err, webauth.ErrInvalid) {
		t.Fatalf("second use: %v", err)
	}
	if strings.Contains(dump(t, db), cookie) {
		t.Fatal("a session is stored in clear")
	}
	if u, err := a.SessionUser(ctx, cookie); u != "alice" || err != nil {
		t.Fatalf("session: %q %v", u, err)
	}
	if webauth.CSRF(cookie) == webauth.CSRF(cookie+"x") || webauth.CSRF(cookie) == "" {
		t.Fatal("CSRF tokens are not bound to their session")
	}
	late, _, _ := a.SignIn(ctx, "bob")
	*now = now.Add(webauth.LinkTTL + time.Second)
	if _, _, err := a.Redeem(ctx, strings.TrimPrefix(late, "https://gw.example/signin?t=")); !errors.Is(err, webauth.ErrInvalid) {
		t.Fatalf("expired link: %v", err)
	}
	*now = now.Add(webauth.SessionTTL)
	if _, err := a.SessionUser(ctx, cookie); !errors.Is(err, webauth.ErrInvalid) {
		t.Fatalf("a session outlived 12 hours: %v", err)
	}
	for _, bad := range []string{"", "lxgl_", "lxgs_x", strings.Repeat("a", 48), "lxg_" + strings.Repeat("a", 43)} {
		if _, err := a.SessionUser(ctx, bad); !errors.Is(err, webauth.ErrInvalid) {
			t.Errorf("session %q: %v", bad, err)
		}
		if _, _, err := a.Redeem(ctx, bad); !errors.Is(err, webauth.ErrInvalid) {
			t.Errorf("link %q: %v", bad, err)
		}
	}
	if err := a.Prune(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	a, db, us, now := setup(t)
	tok, secret, err := a.CreateToken(ctx, "alice", "ci", time.Hour)
	if err != nil || tok.ID == 0 || tok.Expires == nil || len(secret) != 47 || !strings.HasPrefix(secret, webauth.TokenPrefix) {
		t.Fatalf("create: %+v %q %v", tok, secret, err)
	}
	if strings.Contains(dump(t, db), secret) {
		t.Fatal("a token is stored in clear")
	}
	if u, err := a.TokenUser(ctx, secret); u != "alice" || err != nil {
		t.Fatalf("token user: %q %v", u, err)
	}
	list, _ := a.Tokens(ctx, "alice")
	if len(list) != 1 || list[0].LastUsed == nil || list[0].Name != "ci" {
		t.Fatalf("list: %+v", list)
	}
	if _, _, err := a.CreateToken(ctx, "alice", "bad name", 0); err == nil {
		t.Fatal("a name with a space")
	}
	if err := a.RevokeToken(ctx, "bob", tok.ID); !errors.Is(err, webauth.ErrNoToken) {
		t.Fatalf("bob revoked alice's token: %v", err)
	}
	*now = now.Add(time.Hour)
	if _, err := a.TokenUser(ctx, secret); !errors.Is(err, webauth.ErrInvalid) {
		t.Fatalf("an expired token: %v", err)
	}
	_, forever, _ := a.CreateToken(ctx, "bob", "", 0)
	if err := us.Delete(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TokenUser(ctx, forever); !errors.Is(err, webauth.ErrInvalid) {
		t.Fatalf("a deleted user's token: %v", err)
	}
}
