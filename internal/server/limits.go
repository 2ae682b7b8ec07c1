package server

import (
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/gliderlabs/ssh"
	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	gossh "golang.org/x/crypto/ssh"
)

// addrKey is the source a connection counts under: its IPv4 address
// (IPv4-mapped IPv6 included), or its IPv6 /64, which one host commonly
// holds whole.
func addrKey(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return auth.GroupIP(ip)
		}
	}
	return auth.AddrGroup(a.String())
}

// Limits are the caps SetLimits may change while serving.
type Limits struct {
	MaxSessions, MaxSessionsPerUser, MaxConnections                         int
	MaxUnauthPerAddress, MaxConnectionsPerAddress, MaxChannelsPerConnection int
}

// SetLimits applies new caps (SIGHUP). They hold for what opens from now
// on: connections, sessions and channels already open are never cut, and a
// lowered cap only refuses newcomers until enough of them have ended.
// Zero per-source values mean the defaults, as in Options.
func (s *Server) SetLimits(l Limits) {
	s.sess.set(l.MaxSessions, l.MaxSessionsPerUser)
	s.addrs.Set(orDefault(l.MaxUnauthPerAddress, defaultMaxUnauthPerAddress),
		orDefault(l.MaxConnectionsPerAddress, defaultMaxConnectionsPerAddress))
	s.maxConns.Store(int64(l.MaxConnections))
	s.maxChans.Store(int32(orDefault(l.MaxChannelsPerConnection, defaultMaxChannelsPerConnection)))
}

// acquireChannel takes a place for a new channel on the connection, or
// rejects the channel (ResourceShortage) when the connection has its cap
// open. Only the first refusal on a connection is audited; the rest are
// counted and logged once when the connection closes. release may be
// called more than once; callers give the place back before they answer
// the client, so that a client told "closed" or "refused" finds it free.
func (s *Server) acquireChannel(ctx ssh.Context, ch gossh.NewChannel) (release func(), ok bool) {
	st := stateOf(ctx)
	limit := s.maxChans.Load()
	for {
		n := st.channels.Load()
		if n >= limit {
			break
		}
		if st.channels.CompareAndSwap(n, n+1) {
			var once sync.Once
			return func() { once.Do(func() { st.channels.Add(-1) }) }, true
		}
	}
	why := fmt.Sprintf("too many channels open on this connection (the limit is %d); close one and retry", limit)
	if st.chRefused.Add(1) == 1 {
		s.opt.Audit.Record(ctx, audit.Event{Kind: audit.KindRefusal, User: audit.SafeName(ctx.User()), Remote: st.remote,
			Method: "channel " + ch.ChannelType(), Detail: why})
	}
	ch.Reject(gossh.ResourceShortage, why)
	return nil, false
}
