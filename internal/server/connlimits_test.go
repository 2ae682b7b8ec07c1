package server

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/testlog"
)

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
	var logs *testlog.Buffer
	g := startGateway(t, func(o *Options) {
		logs = captureLog(o)
		o.MaxConnections = 600
		o.MaxUnauthPerAddress, o.MaxConnectionsPerAddress = 5, 8
	})
	idleFloodFromOneSource(t, g, logs)
	authenticatedLeaveTheUnauthCount(t, g)
}

// idleFloodFromOneSource opens 200 idle connections from one address: all
// but 5 are refused, with one log line, and another address still logs in.
func idleFloodFromOneSource(t *testing.T, g *gateway, logs *testlog.Buffer) {
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
}

// authenticatedLeaveTheUnauthCount: authenticated connections leave the
// unauthenticated count, and the total cap still holds: 5 idle + 3 logged
// in = 8. Counts drop on close.
func authenticatedLeaveTheUnauthCount(t *testing.T, g *gateway) {
	var idle []net.Conn
	var clients []*gossh.Client
	defer func() {
		for _, c := range idle {
			c.Close()
		}
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
