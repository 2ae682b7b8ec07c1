package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

type countingConn struct {
	gossh.Conn
	n atomic.Int32
}

func (c *countingConn) SendRequest(string, bool, []byte) (bool, []byte, error) {
	c.n.Add(1)
	return true, nil, nil
}

// Keepalives flow only while busy; an idle session has no goroutine for them.
func TestKeepAliveOnlyWhileBusy(t *testing.T) {
	conn := &countingConn{}
	ka := &keepAlive{ctx: context.Background(), conn: conn, every: 5 * time.Millisecond}
	time.Sleep(30 * time.Millisecond)
	if n := conn.n.Load(); n != 0 {
		t.Fatalf("%d keepalives while idle", n)
	}
	ka.busy(true)
	ka.busy(true) // twice: still one goroutine
	deadline := time.Now().Add(2 * time.Second)
	for conn.n.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no keepalives while busy")
		}
		time.Sleep(time.Millisecond)
	}
	ka.busy(false)
	ka.mu.Lock()
	running := ka.stop != nil
	ka.mu.Unlock()
	if running {
		t.Fatal("keepalives still running after busy(false)")
	}
	time.Sleep(15 * time.Millisecond) // a tick already under way may land
	n := conn.n.Load()
	time.Sleep(30 * time.Millisecond)
	if m := conn.n.Load(); m != n {
		t.Fatalf("%d keepalives after busy(false)", m-n)
	}
	ka.busy(false) // twice: harmless
}
