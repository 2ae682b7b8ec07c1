package server

import (
	"net"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/throttle"
)

// SetLimits changes the caps for newcomers and cuts nothing already open.
func TestSetLimits(t *testing.T) {
	s := &Server{sess: newSessionCounter(2, 2), addrs: throttle.NewConns(1, 1)}
	if err := s.sess.acquire("alice"); err != nil {
		t.Fatal(err)
	}
	a, _, _ := s.addrs.Acquire("a")
	s.SetLimits(Limits{MaxSessions: 1, MaxSessionsPerUser: 1, MaxConnections: 7, MaxUnauthPerAddress: 3, MaxConnectionsPerAddress: 3})
	if err := s.sess.acquire("bob"); err == nil || !strings.Contains(err.Error(), "limit of 1") {
		t.Fatalf("lowered session cap: %v", err)
	}
	if b, _, _ := s.addrs.Acquire("a"); a == nil || b == nil {
		t.Fatal("raised per-source cap not applied")
	}
	if s.maxConns.Load() != 7 || s.maxChans.Load() != defaultMaxChannelsPerConnection {
		t.Fatalf("connections %d, channels %d", s.maxConns.Load(), s.maxChans.Load())
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}, "127.0.0.1"},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 7).To4(), Port: 1}, "10.0.0.7"},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 7).To16(), Port: 1}, "10.0.0.7"}, // 16-byte form of an IPv4 address
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 1}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 9}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 9}, "2001:db8:1:3::/64"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 9, Zone: "eth0"}, "fe80::/64"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 9}, "::/64"},
		{&net.UnixAddr{Name: "@sock", Net: "unix"}, "@sock"},
	} {
		if got := addrKey(tc.addr); got != tc.want {
			t.Errorf("addrKey(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
