package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listen opens a real unixgram socket at addr and returns it.
func listen(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	name := addr
	if addr[0] == '@' {
		name = "\x00" + addr[1:]
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifyUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	sent, err := Notify(Ready)
	if sent || err != nil {
		t.Fatalf("Notify without NOTIFY_SOCKET = %v, %v; want false, nil", sent, err)
	}
}

func TestNotifyPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	for _, msg := range []string{Ready, Stopping} {
		if sent, err := Notify(msg); !sent || err != nil {
			t.Fatalf("Notify(%q) = %v, %v", msg, sent, err)
		}
		if got := read(t, c); got != msg {
			t.Fatalf("received %q, want %q", got, msg)
		}
	}
}

func TestNotifyAbstract(t *testing.T) {
	addr := "@lxcgate-sdnotify-test-" + strconv.Itoa(os.Getpid())
	c := listen(t, addr)
	t.Setenv("NOTIFY_SOCKET", addr)
	if sent, err := Notify(Ready); !sent || err != nil {
		t.Fatalf("Notify = %v, %v", sent, err)
	}
	if got := read(t, c); got != Ready {
		t.Fatalf("received %q", got)
	}
}

func TestNotifyMissingSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	if _, err := Notify(Ready); err == nil {
		t.Fatal("Notify to a missing socket succeeded")
	}
}

func TestWatchdog(t *testing.T) {
	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", "")
	if d := WatchdogInterval(); d != 0 {
		t.Fatalf("interval without WATCHDOG_USEC = %v", d)
	}
	t.Setenv("WATCHDOG_USEC", "100000")
	if d := WatchdogInterval(); d != 50*time.Millisecond {
		t.Fatalf("interval = %v, want 50ms (half)", d)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if os.Getpid() != 1 && WatchdogInterval() != 0 {
		t.Fatal("watchdog meant for another pid was honoured")
	}
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	path := filepath.Join(t.TempDir(), "notify")
	c := listen(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	Notify(Watchdog)
	if got := read(t, c); got != Watchdog {
		t.Fatalf("received %q, want %q", got, Watchdog)
	}
}
