package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/sshtest"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
)

type gateway struct {
	addr    string
	srv     *Server
	users   *users.Store
	db      *sql.DB
	sh      *shell.Shell
	aliceK  gossh.Signer
	bobK    gossh.Signer
	stopped chan error
}

func newSigner(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startGateway(t *testing.T, mod func(*Options)) *gateway {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	us := users.New(db)
	g := &gateway{users: us, db: db, aliceK: newSigner(t), bobK: newSigner(t), stopped: make(chan error, 1)}
	us.Add(ctx, "alice", users.RoleUser, "alice-password")
	us.Add(ctx, "bob", users.RoleUser, "bob-password")
	us.AddKeys(ctx, "alice", gossh.MarshalAuthorizedKey(g.aliceK.PublicKey()))
	us.AddKeys(ctx, "bob", gossh.MarshalAuthorizedKey(g.bobK.PublicKey()))

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	th := throttle.New(throttle.Limits{PerAccount: 3, PerAddress: 50, Window: time.Minute, Lockout: time.Minute})
	a := auth.New(us, th)
	al := audit.New(db, logger)
	g.sh = shell.New(shell.Options{Auth: a, Audit: al, Log: logger, Host: "gw"})
	g.sh.Add(&shell.Command{Name: "boom", Summary: "panics", Run: func(*shell.Ctx, []string) error { panic("boom") }})
	g.sh.Add(&shell.Command{Name: "sleep", Summary: "waits", Run: func(c *shell.Ctx, _ []string) error {
		select {
		case <-time.After(500 * time.Millisecond):
			io.WriteString(c.Out, "slept\n")
			return nil
		case <-c.Context().Done():
			return c.Context().Err()
		}
	}})
	hk := newSigner(t)
	opt := Options{HostKey: hk, Auth: a, Shell: g.sh, Audit: al, Log: logger,
		HandshakeTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		MaxSessions: 50, MaxSessionsPerUser: 3, MaxConnections: 50, Accounts: us, WatchInterval: 100 * time.Millisecond}
	if mod != nil {
		mod(&opt)
	}
	g.srv = New(opt)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	go func() { g.stopped <- g.srv.Serve(ln) }()
	t.Cleanup(func() { g.srv.ssh.Close() })
	return g
}

func (g *gateway) dial(t *testing.T, user string, methods ...gossh.AuthMethod) (*gossh.Client, error) {
	t.Helper()
	return gossh.Dial("tcp", g.addr, &gossh.ClientConfig{
		User: user, Auth: methods, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
	})
}

func TestPasswordAndKeyLogin(t *testing.T) {
	g := startGateway(t, nil)
	c, err := g.dial(t, "alice", gossh.Password("alice-password"))
	if err != nil {
		t.Fatal(err)
	}
	if out, _, code := sshtest.Run(t, c, "whoami"); code != 0 || !strings.Contains(out, "alice (user)") || !strings.Contains(out, "by password") {
		t.Fatalf("whoami: %q %d", out, code)
	}
	c.Close()
	c, err = g.dial(t, "bob", gossh.PublicKeys(g.bobK))
	if err != nil {
		t.Fatal(err)
	}
	if out, _, _ := sshtest.Run(t, c, "whoami --json"); !strings.Contains(out, `"name": "bob"`) || !strings.Contains(out, `"method": "publickey"`) {
		t.Fatalf("whoami: %q", out)
	}
	// Exec mode returns the command's status.
	if _, errw, code := sshtest.Run(t, c, "nosuch"); code != 127 || !strings.Contains(errw, "unknown command") {
		t.Fatalf("unknown: %q %d", errw, code)
	}
	c.Close()
	// keyboard-interactive, for clients that offer only that.
	ki := gossh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
		return []string{"alice-password"}, nil
	})
	c, err = g.dial(t, "alice", ki)
	if err != nil {
		t.Fatal(err)
	}
	if out, _, _ := sshtest.Run(t, c, "whoami"); !strings.Contains(out, "by keyboard-interactive") {
		t.Fatalf("whoami: %q", out)
	}
	c.Close()
}

func TestWrongCredentialsRefused(t *testing.T) {
	g := startGateway(t, nil)
	for _, tc := range []struct {
		user string
		auth gossh.AuthMethod
	}{
		{"alice", gossh.Password("bob-password")},
		{"nobody", gossh.Password("alice-password")},
		{"alice", gossh.PublicKeys(g.bobK)}, // bob's key, for alice
		{"alice", gossh.PublicKeys(newSigner(t))},
	} {
		if c, err := g.dial(t, tc.user, tc.auth); err == nil {
			c.Close()
			t.Errorf("%s logged in with wrong credentials", tc.user)
		}
	}
}

// offerOnly presents one key's public half but signs with another key, so
// the server accepts the offer (the query) and then rejects the signature.
type offerOnly struct {
	pub  gossh.PublicKey
	sign gossh.Signer
}

func (o offerOnly) PublicKey() gossh.PublicKey { return o.pub }
func (o offerOnly) Sign(r io.Reader, data []byte) (*gossh.Signature, error) {
	return o.sign.Sign(r, data)
}

// Regression (CVE-2024-45337 family, gliderlabs/ssh#242): a client offers a
// public key it cannot sign with, then logs in with alice's password. The
// session must be alice's, by password, and never the offered key's owner.
func TestOfferedKeyIsNotIdentity(t *testing.T) {
	g := startGateway(t, nil)
	mallory := newSigner(t)
	c, err := g.dial(t, "alice",
		gossh.PublicKeys(offerOnly{pub: g.bobK.PublicKey(), sign: mallory}),
		gossh.Password("alice-password"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ := sshtest.Run(t, c, "whoami --json")
	if !strings.Contains(out, `"name": "alice"`) || !strings.Contains(out, `"method": "password"`) {
		t.Fatalf("whoami = %s", out)
	}
	c.Close()
	// An accepted offer whose signature then fails ends the connection
	// (x/crypto treats a bad signature as fatal): no identity at all.
	for _, user := range []string{"alice", "bob"} {
		k := map[string]gossh.PublicKey{"alice": g.aliceK.PublicKey(), "bob": g.bobK.PublicKey()}[user]
		if c, err := g.dial(t, user, gossh.PublicKeys(offerOnly{pub: k, sign: mallory}), gossh.Password("alice-password")); err == nil {
			out, _, _ := sshtest.Run(t, c, "whoami --json")
			c.Close()
			t.Fatalf("%s: a key that failed its signature led to a session: %s", user, out)
		}
	}
}

func TestLockoutAndKeysStillWork(t *testing.T) {
	g := startGateway(t, nil)
	for i := 0; i < 3; i++ {
		if c, err := g.dial(t, "alice", gossh.Password("wrong-password")); err == nil {
			c.Close()
			t.Fatal("wrong password accepted")
		}
	}
	if c, err := g.dial(t, "alice", gossh.Password("alice-password")); err == nil {
		c.Close()
		t.Fatal("locked account accepted the right password")
	}
	// The owner's key still works: a sprayer cannot lock them out.
	c, err := g.dial(t, "alice", gossh.PublicKeys(g.aliceK))
	if err != nil {
		t.Fatalf("key login during lockout: %v", err)
	}
	c.Close()
	var n int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'login' AND ok = 0 AND user = 'alice'`).Scan(&n)
	if n < 4 {
		t.Fatalf("audit has %d failed logins for alice, want >= 4", n)
	}
}

func TestRefusals(t *testing.T) {
	g := startGateway(t, nil)
	c, err := g.dial(t, "alice", gossh.PublicKeys(g.aliceK))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if conn, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		conn.Close()
		t.Error("local port forwarding (direct-tcpip) allowed")
	}
	if conn, err := c.Dial("unix", "/run/lxd.socket"); err == nil {
		conn.Close()
		t.Error("unix socket forwarding allowed")
	}
	if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
		t.Error("remote port forwarding allowed")
	}
	s, _ := c.NewSession()
	if err := s.Setenv("LD_PRELOAD", "/tmp/x.so"); err == nil {
		t.Error("env request accepted")
	}
	if ok, _ := s.SendRequest("auth-agent-req@openssh.com", true, nil); ok {
		t.Error("agent forwarding accepted")
	}
	if ok, _ := s.SendRequest("x11-req", true, gossh.Marshal(struct {
		Single bool
		Proto  string
		Cookie string
		Screen uint32
	}{false, "MIT-MAGIC-COOKIE-1", "00", 0})); ok {
		t.Error("x11 forwarding accepted")
	}
	if err := s.RequestSubsystem("sftp"); err == nil {
		t.Error("sftp subsystem accepted")
	}
	s.Close()
	// The connection still serves ordinary commands afterwards.
	if out, _, _ := sshtest.Run(t, c, "whoami"); !strings.Contains(out, "alice") {
		t.Fatalf("whoami after refusals: %q", out)
	}
	var n int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'refusal'`).Scan(&n)
	if n < 6 {
		t.Fatalf("%d refusals audited, want >= 6", n)
	}
}

func TestSessionLimitAndPanic(t *testing.T) {
	g := startGateway(t, nil)
	c, err := g.dial(t, "alice", gossh.PublicKeys(g.aliceK))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Three sessions held open (the per-user limit); a fourth is refused.
	var open []*gossh.Session
	for i := 0; i < 3; i++ {
		s, _ := c.NewSession()
		in, _ := s.StdinPipe()
		defer in.Close()
		s.Stdout = io.Discard
		if err := s.Shell(); err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
	}
	time.Sleep(100 * time.Millisecond)
	if _, errw, code := sshtest.Run(t, c, "whoami"); code != 1 || !strings.Contains(errw, "sessions open") {
		t.Fatalf("fourth session: %q %d", errw, code)
	}
	for _, s := range open {
		s.Close()
	}
	time.Sleep(100 * time.Millisecond)
	// A panicking command fails alone; the server goes on.
	if _, errw, code := sshtest.Run(t, c, "boom"); code != 1 || !strings.Contains(errw, "failed unexpectedly") {
		t.Fatalf("boom: %q %d", errw, code)
	}
	if out, _, _ := sshtest.Run(t, c, "whoami"); !strings.Contains(out, "alice") {
		t.Fatalf("after panic: %q", out)
	}
}

func TestLobby(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.Lobby = "lab" })
	c, err := g.dial(t, "lab") // no credentials at all
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, errw, code := sshtest.Run(t, c, "whoami"); code != 1 || !strings.Contains(errw, "lobby") {
		t.Fatalf("lobby whoami: %q %d", errw, code)
	}
	s, _ := c.NewSession()
	s.Stdin = strings.NewReader("login alice --stdin\nalice-password\nwhoami\n")
	var out bytes.Buffer
	s.Stdout = &out
	s.Shell()
	s.Wait()
	if !strings.Contains(out.String(), "alice (user)") {
		t.Fatalf("lobby login: %q", out.String())
	}
	// Other names still need credentials.
	if c2, err := g.dial(t, "alice"); err == nil {
		c2.Close()
		t.Fatal("alice logged in with no credentials")
	}
}

func TestDisabledUser(t *testing.T) {
	g := startGateway(t, nil)
	g.users.SetDisabled(context.Background(), "bob", true)
	if c, err := g.dial(t, "bob", gossh.PublicKeys(g.bobK)); err == nil {
		c.Close()
		t.Fatal("disabled user logged in by key")
	}
	if c, err := g.dial(t, "bob", gossh.Password("bob-password")); err == nil {
		c.Close()
		t.Fatal("disabled user logged in by password")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.HandshakeTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// Read the server's version line, then send nothing: the server must hang up.
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept a silent connection past the handshake timeout")
	}
}

func TestShutdownDrains(t *testing.T) {
	g := startGateway(t, nil)
	c, err := g.dial(t, "alice", gossh.PublicKeys(g.aliceK))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _ := c.NewSession()
	var out bytes.Buffer
	s.Stdout = &out
	if err := s.Start("sleep"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	s.Wait()
	if !strings.Contains(out.String(), "slept") {
		t.Fatalf("running command was cut: %q", out.String())
	}
	if err := <-g.stopped; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// fakeJumper lets alice reach "box1" on port 22, which is a local echo server.
type fakeJumper struct{ addr string }

func (f fakeJumper) Resolve(_ context.Context, user, host string, port int) (string, error) {
	if user == "alice" && host == "box1" && port == 22 {
		return f.addr, nil
	}
	return "", errors.New("no such container")
}

func TestDirectTCPIPToOwnContainerOnly(t *testing.T) {
	echo := echoServer(t)
	g := startGateway(t, func(o *Options) { o.Jump = fakeJumper{echo.Addr().String()} })
	c, err := g.dial(t, "alice", gossh.PublicKeys(g.aliceK))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Dial("tcp", "box1:22")
	if err != nil {
		t.Fatalf("alice to her box1: %v", err)
	}
	conn.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	conn.Close()
	for _, dest := range []string{"box1:80", "bobs-box:22", "127.0.0.1:22", echo.Addr().String()} {
		if conn, err := c.Dial("tcp", dest); err == nil {
			conn.Close()
			t.Errorf("alice reached %s", dest)
		}
	}
	var n int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'refusal' AND method LIKE 'direct-tcpip%'`).Scan(&n)
	if n != 4 {
		t.Fatalf("%d direct-tcpip refusals audited, want 4", n)
	}
}

// A command that prints nothing for longer than the idle timeout is not
// cut: keepalives flow while it runs. An idle prompt still times out.
func TestIdleTimeoutSparesRunningCommands(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.IdleTimeout = 1200 * time.Millisecond })
	g.sh.Add(&shell.Command{Name: "quiet", Summary: "waits silently", Run: func(c *shell.Ctx, _ []string) error {
		time.Sleep(2500 * time.Millisecond)
		io.WriteString(c.Out, "done\n")
		return nil
	}})
	c, err := g.dial(t, "alice", gossh.PublicKeys(g.aliceK))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if out, _, code := sshtest.Run(t, c, "quiet"); code != 0 || out != "done\n" {
		t.Fatalf("quiet: %q %d", out, code)
	}
	// Nothing running and no traffic: the connection goes.
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("an idle connection outlived the idle timeout")
	}
}

// echoServer listens on loopback and echoes every connection, standing in
// for a container's service; it closes with the test.
func echoServer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln
}
