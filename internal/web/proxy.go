package web

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is who sent r, for every limit and the audit trail: the
// socket's peer, or, when that peer is a trusted proxy, the right-most
// address of X-Forwarded-For that is not one. Entries left of it were
// written by the client and prove nothing. An entry that is not an
// address stops the walk at the last trusted hop, so a broken chain
// shares that hop's limits rather than letting the client pick its own.
func (s *Server) clientAddr(r *http.Request) string {
	if len(s.o.TrustedProxies) == 0 {
		return r.RemoteAddr
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !s.trusted(peer.Addr()) {
		return r.RemoteAddr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := ""
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a.String()
		if !s.trusted(a) {
			return client
		}
	}
	if client == "" {
		return r.RemoteAddr // no header: the proxy's own request
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.o.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
