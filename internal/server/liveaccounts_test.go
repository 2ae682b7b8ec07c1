package server

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// holdShell opens a shell session on c reading stdin, and keeps it open.
func holdShell(t *testing.T, c *gossh.Client, stdin io.Reader) *gossh.Session {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	s.Stdin, s.Stdout = stdin, io.Discard
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	return s
}

// endedAt says when c's connection ends.
func endedAt(c *gossh.Client) <-chan time.Time {
	done := make(chan time.Time, 1)
	go func() { c.Wait(); done <- time.Now() }()
	return done
}

// mustDial dials as user and closes the client when t ends.
func (g *gateway) mustDial(t *testing.T, user string, methods ...gossh.AuthMethod) *gossh.Client {
	t.Helper()
	c, err := g.dial(t, user, methods...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sessionRefusals counts the audit records of user's connections ended
// for why.
func (g *gateway) sessionRefusals(t *testing.T, user, why string) int {
	t.Helper()
	var n int
	err := g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'refusal' AND method = 'session' AND user = ? AND detail LIKE ?`,
		user, why+"%").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// watched are the connections TestConnectionsFollowTheAccount watches,
// each holding a shell: alice's by key and by password, bob's, an
// anonymous lobby connection, and a lobby connection logged in as carol.
type watched struct {
	alice, alice2, bob, lobby, lobby2 *gossh.Client
}

func (g *gateway) openWatched(t *testing.T) watched {
	t.Helper()
	w := watched{
		alice:  g.mustDial(t, "alice", gossh.PublicKeys(g.aliceK)),
		alice2: g.mustDial(t, "alice", gossh.Password("alice-password")),
		bob:    g.mustDial(t, "bob", gossh.PublicKeys(g.bobK)),
		lobby:  g.mustDial(t, "lab"),
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	holdShell(t, w.alice, pr)
	holdShell(t, w.bob, strings.NewReader(""))
	holdShell(t, w.lobby, pr)
	lobbyIn, lobbyOut := io.Pipe()
	t.Cleanup(func() { lobbyOut.Close() })
	w.lobby2 = g.mustDial(t, "lab")
	holdShell(t, w.lobby2, lobbyIn)
	io.WriteString(lobbyOut, "login carol --stdin\ncarol-password\n")
	waitFor(t, func() bool { live, _ := g.srv.live.snapshot(); return len(live["carol"]) == 1 })
	return w
}

// Disabling or deleting an account ends its open connections; a lobby
// connection follows the account it logged in to.
func TestConnectionsFollowTheAccount(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.Lobby = "lab" })
	ctx := context.Background()
	if _, err := g.users.Add(ctx, "carol", users.RoleUser, "carol-password"); err != nil {
		t.Fatal(err)
	}
	w := g.openWatched(t)
	aliceEnd, alice2End, bobEnd, lobbyEnd, lobby2End := endedAt(w.alice), endedAt(w.alice2), endedAt(w.bob), endedAt(w.lobby), endedAt(w.lobby2)
	start := time.Now()
	if err := g.users.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	for i, ch := range []<-chan time.Time{aliceEnd, alice2End} {
		select {
		case at := <-ch:
			if d := at.Sub(start); d > time.Second {
				t.Errorf("alice's connection %d ended after %v", i, d)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("alice's connection %d outlived her account", i)
		}
	}
	if err := g.users.Delete(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lobby2End:
	case <-time.After(3 * time.Second):
		t.Fatal("the lobby connection logged in as carol outlived carol")
	}
	select {
	case <-bobEnd:
		t.Fatal("bob's connection ended")
	case <-lobbyEnd:
		t.Fatal("an anonymous lobby connection ended")
	case <-time.After(500 * time.Millisecond):
	}
	if n := g.sessionRefusals(t, "alice", "account disabled"); n != 2 {
		t.Fatalf("%d audit records for alice's ended connections, want 2", n)
	}
	if n := g.sessionRefusals(t, "carol", "account deleted"); n != 1 {
		t.Fatalf("%d audit records for carol's ended connection, want 1", n)
	}
	if live, _ := g.srv.live.snapshot(); len(live["alice"])+len(live["carol"]) != 0 {
		t.Fatalf("registry still holds %v", live)
	}
}

// The shell's Refresh hook re-reads the account: role changes show, and a
// disabled or deleted account is an error (recorded once per connection).
func TestRefresh(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.Lobby = "lab" })
	ctx := context.Background()
	st := &connState{remote: "192.0.2.1:5"}
	refresh := g.srv.refresh(st)
	if u, err := refresh(ctx, "lab"); err != nil || u.Name != "lab" {
		t.Fatalf("lobby: %v %v", u, err)
	}
	g.db.Exec(`UPDATE users SET role = 'admin' WHERE name = 'alice'`)
	if u, err := refresh(ctx, "alice"); err != nil || !u.IsAdmin() {
		t.Fatalf("after a role change: %+v %v", u, err)
	}
	g.users.SetDisabled(ctx, "bob", true)
	for i := 0; i < 3; i++ {
		if _, err := refresh(ctx, "bob"); !errors.Is(err, users.ErrDisabled) {
			t.Fatalf("disabled: %v", err)
		}
	}
	if _, err := refresh(ctx, "nobody"); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	var n int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE method = 'session' AND remote = '192.0.2.1:5'`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d records, want 1 for the connection", n)
	}
}
