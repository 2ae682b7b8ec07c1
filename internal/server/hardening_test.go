package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func captureLog(o *Options) *syncBuffer {
	buf := &syncBuffer{}
	o.Log = slog.New(slog.NewTextHandler(buf, nil))
	return buf
}

// dialFrom opens a TCP connection to the gateway from a given loopback
// address.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (g *gateway) dialFrom(t *testing.T, local, user string, methods ...gossh.AuthMethod) (*gossh.Client, error) {
	t.Helper()
	conn := dialFrom(t, local, g.addr)
	cc, chans, reqs, err := gossh.NewClientConn(conn, g.addr, &gossh.ClientConfig{
		User: user, Auth: methods, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return gossh.NewClient(cc, chans, reqs), nil
}

// refusedAtOnce reports whether the server closed c without a word.
func refusedAtOnce(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(make([]byte, 64))
	return n == 0 && errors.Is(err, io.EOF)
}

// Idle connections from one source cannot keep anyone else out, and cost
// one log line, not one per connection.
func TestPerSourceConnectionLimits(t *testing.T) {
	var logs *syncBuffer
	g := startGateway(t, func(o *Options) {
		logs = captureLog(o)
		o.MaxConnections = 600
		o.MaxUnauthPerAddress, o.MaxConnectionsPerAddress = 5, 8
	})
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 200; i++ {
		idle = append(idle, dialFrom(t, "127.0.0.3", g.addr))
	}
	// The server handles connections concurrently, so which ones are kept
	// is not known: how many is. A kept one hears the server's version.
	refused := 0
	for _, c := range idle {
		if refusedAtOnce(c) {
			refused++
		}
	}
	if refused != 195 {
		t.Fatalf("%d of 200 connections refused, want 195 (5 may authenticate)", refused)
	}
	if n := strings.Count(logs.String(), "connection refused"); n != 1 {
		t.Fatalf("%d log lines for %d refusals, want 1", n, refused)
	}
	// Another loopback address logs in at once.
	c, err := g.dialFrom(t, "127.0.0.2", "alice", gossh.PublicKeys(g.aliceK))
	if err != nil {
		t.Fatalf("login from another source: %v", err)
	}
	c.Close()

	// Authenticated connections leave the unauthenticated count, and the
	// total cap still holds: 5 idle + 3 logged in = 8.
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	var clients []*gossh.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	waitFor(t, func() bool { _, n := g.srv.addrs.Counts("127.0.0.3"); return n == 0 })
	for i := 0; i < 3; i++ {
		c, err := g.dialFrom(t, "127.0.0.3", "alice", gossh.PublicKeys(g.aliceK))
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		clients = append(clients, c)
	}
	for i := 0; i < 5; i++ {
		c := dialFrom(t, "127.0.0.3", g.addr)
		idle = append(idle, c)
	}
	// (The server accepts asynchronously.)
	waitFor(t, func() bool { u, n := g.srv.addrs.Counts("127.0.0.3"); return u == 5 && n == 8 })
	if c := dialFrom(t, "127.0.0.3", g.addr); !refusedAtOnce(c) {
		t.Fatal("a ninth connection was kept (total cap 8)")
	}
	// Counts drop on close.
	for _, c := range idle {
		c.Close()
	}
	for _, c := range clients {
		c.Close()
	}
	clients, idle = nil, nil
	waitFor(t, func() bool { u, n := g.srv.addrs.Counts("127.0.0.3"); return u == 0 && n == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openRaw opens a session channel without starting anything on it.
func openRaw(c *gossh.Client, typ string) (gossh.Channel, error) {
	ch, reqs, err := c.OpenChannel(typ, nil)
	if err != nil {
		return nil, err
	}
	go gossh.DiscardRequests(reqs)
	return ch, nil
}

func TestChannelsPerConnection(t *testing.T) {
	echo := echoServer(t)
	g := startGateway(t, func(o *Options) {
		o.MaxChannelsPerConnection = 3
		o.Jump = fakeJumper{echo.Addr().String()}
	})
	c, err := g.dial(t, "alice", gossh.PublicKeys(g.aliceK))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var open []gossh.Channel
	for i := 0; i < 3; i++ {
		ch, err := openRaw(c, "session")
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		open = append(open, ch)
	}
	// Over the cap: sessions and direct-tcpip alike, many times over.
	for i := 0; i < 20; i++ {
		_, err := openRaw(c, "session")
		var oce *gossh.OpenChannelError
		if !errors.As(err, &oce) || oce.Reason != gossh.ResourceShortage || !strings.Contains(oce.Message, "limit is 3") {
			t.Fatalf("session over the cap: %v", err)
		}
	}
	if conn, err := c.Dial("tcp", "box1:22"); err == nil {
		conn.Close()
		t.Fatal("direct-tcpip over the cap was accepted")
	}
	var n int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'refusal' AND detail LIKE 'too many channels%'`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d audit records for 21 refused channels, want 1", n)
	}
	// A closed channel frees its place; so does a finished direct-tcpip.
	open[0].Close()
	waitFor(t, func() bool { return stateCount(g) == 2 })
	conn, err := c.Dial("tcp", "box1:22")
	if err != nil {
		t.Fatalf("direct-tcpip with a place free: %v", err)
	}
	conn.Close()
	waitFor(t, func() bool { return stateCount(g) == 2 })
	// A refused direct-tcpip gives its place back too.
	for i := 0; i < 5; i++ {
		if conn, err := c.Dial("tcp", "bobs-box:22"); err == nil {
			conn.Close()
			t.Fatal("alice reached bob's box")
		}
	}
	if _, err := openRaw(c, "session"); err != nil {
		t.Fatalf("session after refused forwards: %v", err)
	}
}

// stateCount returns the channels open on the gateway's only live
// connection.
func stateCount(g *gateway) int {
	live, _ := g.srv.live.snapshot()
	for _, conns := range live {
		for _, st := range conns {
			return int(st.channels.Load())
		}
	}
	return -1
}

// Names sent before authentication are recorded bounded and escaped, and
// never looked up.
func TestHostileUserNames(t *testing.T) {
	var logs *syncBuffer
	g := startGateway(t, func(o *Options) { logs = captureLog(o) })
	for _, name := range []string{
		strings.Repeat("A", 20_000),
		"alice\nlogin ok user=admin",
		"\x1b]0;pwned\x07",
		"ad\u202emin",
		"\xff\xfe\xfd",
	} {
		for _, m := range []gossh.AuthMethod{gossh.Password("alice-password"), gossh.PublicKeys(g.aliceK)} {
			if c, err := g.dial(t, name, m); err == nil {
				c.Close()
				t.Fatalf("%q logged in", name[:min(len(name), 20)])
			}
		}
	}
	rows, err := g.db.Query(`SELECT user, detail, method FROM audit`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var user, detail, method string
		rows.Scan(&user, &detail, &method)
		seen++
		if len(user) > 200 || len(detail) > 300 {
			t.Errorf("audit row with a %d-byte user, %d-byte detail", len(user), len(detail))
		}
		if strings.ContainsAny(user, "\n\x1b\x07\u202e") || strings.Contains(user, "\xff") {
			t.Errorf("raw control or invalid bytes in an audit user: %q", user)
		}
	}
	if seen < 10 {
		t.Fatalf("%d audit rows, want one per attempt", seen)
	}
	if strings.Contains(logs.String(), strings.Repeat("A", 100)) {
		t.Fatal("the log holds the 20 kB name")
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 1000 {
			t.Fatalf("a %d-byte log line", len(line))
		}
	}
}

// A locked-out account hammered with passwords gets one audit record per
// minute, not one per attempt.
func TestLockoutRefusalsSampled(t *testing.T) {
	var logs *syncBuffer
	g := startGateway(t, func(o *Options) { logs = captureLog(o) })
	for i := 0; i < 15; i++ {
		if c, err := g.dial(t, "alice", gossh.Password("wrong-password")); err == nil {
			c.Close()
			t.Fatal("wrong password accepted")
		}
	}
	var all, locked int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'login' AND ok = 0 AND user = 'alice'`).Scan(&all)
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'login' AND ok = 0 AND user = 'alice' AND detail LIKE 'too many failed attempts%'`).Scan(&locked)
	if all != 4 || locked != 1 {
		t.Fatalf("%d failed-login records (%d for the lockout); want 3 wrong passwords + 1 lockout", all, locked)
	}
	if n := strings.Count(logs.String(), "password refused"); n != 0 {
		t.Fatalf("%d log lines for locked attempts", n)
	}
}

// Disabling or deleting an account ends its open connections; a lobby
// connection follows the account it logged in to.
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

func TestConnectionsFollowTheAccount(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.Lobby = "lab" })
	ctx := context.Background()
	if _, err := g.users.Add(ctx, "carol", users.RoleUser, "carol-password"); err != nil {
		t.Fatal(err)
	}
	alice := g.mustDial(t, "alice", gossh.PublicKeys(g.aliceK))
	alice2 := g.mustDial(t, "alice", gossh.Password("alice-password"))
	bob := g.mustDial(t, "bob", gossh.PublicKeys(g.bobK))
	lobby := g.mustDial(t, "lab")
	pr, pw := io.Pipe()
	defer pw.Close()
	holdShell(t, alice, pr)
	holdShell(t, bob, strings.NewReader(""))
	holdShell(t, lobby, pr)
	lobbyIn, lobbyOut := io.Pipe()
	defer lobbyOut.Close()
	lobby2 := g.mustDial(t, "lab")
	holdShell(t, lobby2, lobbyIn)
	io.WriteString(lobbyOut, "login carol --stdin\ncarol-password\n")
	waitFor(t, func() bool { live, _ := g.srv.live.snapshot(); return len(live["carol"]) == 1 })

	aliceEnd, alice2End, bobEnd, lobbyEnd, lobby2End := endedAt(alice), endedAt(alice2), endedAt(bob), endedAt(lobby), endedAt(lobby2)
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

func TestAlgorithms(t *testing.T) {
	g := startGateway(t, nil)
	dial := func(cfg gossh.Config) error {
		c, err := gossh.Dial("tcp", g.addr, &gossh.ClientConfig{Config: cfg, User: "alice",
			Auth: []gossh.AuthMethod{gossh.PublicKeys(g.aliceK)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, kex := range kexAlgorithms {
		for _, cipher := range ciphers {
			if err := dial(gossh.Config{KeyExchanges: []string{kex}, Ciphers: []string{cipher}}); err != nil {
				t.Errorf("%s with %s: %v", kex, cipher, err)
			}
		}
	}
	for _, tc := range []gossh.Config{
		{KeyExchanges: []string{gossh.KeyExchangeECDHP256}},
		{KeyExchanges: []string{gossh.KeyExchangeDH14SHA256}},
		{KeyExchanges: []string{gossh.InsecureKeyExchangeDH14SHA1}},
		{Ciphers: []string{gossh.CipherAES128CTR}},
		{Ciphers: []string{gossh.InsecureCipherAES128CBC}},
		{Ciphers: []string{gossh.CipherAES256CTR}, MACs: []string{gossh.HMACSHA256}},
	} {
		if err := dial(tc); err == nil {
			t.Errorf("%+v accepted", tc)
		}
	}
}
