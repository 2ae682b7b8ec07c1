// Package sdnotify speaks systemd's notify protocol (sd_notify(3)): one
// datagram per message to the unix socket named by $NOTIFY_SOCKET. Without
// that variable (not started by systemd with Type=notify) every call is a
// no-op.
package sdnotify

import (
	"net"
	"os"
	"strconv"
	"time"
)

// Messages systemd understands.
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
	Watchdog  = "WATCHDOG=1"
)

// Notify sends state to $NOTIFY_SOCKET. It reports false, nil when the
// variable is unset. A leading '@' names an abstract socket.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}

// WatchdogInterval is how often to send WATCHDOG=1: half of $WATCHDOG_USEC,
// or 0 when systemd asks for no watchdog (unset, invalid, or meant for
// another process by $WATCHDOG_PID).
func WatchdogInterval() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond / 2
}
