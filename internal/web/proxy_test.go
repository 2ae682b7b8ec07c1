package web

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	s := &Server{o: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}}}
	for _, tc := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"192.0.2.1:5000", []string{"198.51.100.1"}, "192.0.2.1:5000"}, // untrusted peer: header ignored
		{"10.0.0.1:5000", nil, "10.0.0.1:5000"},                        // the proxy's own request
		{"10.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.1:5000", []string{"203.0.113.7, 198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.1:5000", []string{"203.0.113.7", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"10.0.0.1:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"10.0.0.1:5000", []string{"[2001:db9::5]:4711"}, "2001:db9::5"},
		{"10.0.0.1:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"[2001:db8::1]:443", []string{"203.0.113.7"}, "203.0.113.7"},
		{"10.0.0.1:5000", []string{"203.0.113.7, garbage, 10.2.2.2"}, "10.2.2.2"}, // broken chain: the last trusted hop
		{"10.0.0.1:5000", []string{"garbage"}, "10.0.0.1:5000"},
		{"10.0.0.1:5000", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"}, // only proxies: the farthest
	} {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientAddr(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %q, want %q", tc.peer, tc.xff, got, tc.want)
		}
	}
}
