package doctor

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Member is a cluster member as the checks see it.
type Member struct {
	Name   string
	URL    string // https://ADDRESS:8443
	Online bool
	Subnet string // user.lxcgate.subnet
}

// CheckMemberRoutes checks, for each member, that lxcgate gives its
// containers routed addresses (user.lxcgate.subnet) and that the gateway
// has a route to that subnet other than its default one: published ports
// and ssh -J dial those addresses from here.
func CheckMemberRoutes(ctx context.Context, r Runner, ms []Member) Check {
	c := Check{Name: "member subnets"}
	var ok []string
	for _, m := range ms {
		addr := memberAddress(m.URL)
		if m.Subnet == "" {
			c.Status = Warn
			c.Detail = fmt.Sprintf("member %s has no user.lxcgate.subnet: its containers get no address the gateway can trust; "+
				"set it (lxc cluster edit %s) to a subnet routed via %s", m.Name, m.Name, addr)
			return c
		}
		_, ipnet, err := net.ParseCIDR(m.Subnet)
		if err != nil || ipnet.IP.To4() == nil {
			c.Status, c.Detail = Fail, fmt.Sprintf("member %s: user.lxcgate.subnet %q is not an IPv4 CIDR", m.Name, m.Subnet)
			return c
		}
		probe := ipnet.IP.To4()
		probe = net.IPv4(probe[0], probe[1], probe[2], probe[3]+2)
		out, err := r.Run(ctx, "ip", "-4", "route", "show", "match", probe.String())
		if err != nil {
			c.Status, c.Detail = Fail, fmt.Sprintf("ip route: %v", err)
			return c
		}
		if !specificRoute(out) {
			c.Status = Fail
			c.Detail = fmt.Sprintf("member %s's subnet %s is not routed from the gateway: ip route add %s via %s (or announce it)",
				m.Name, m.Subnet, m.Subnet, addr)
			return c
		}
		ok = append(ok, m.Name+"="+m.Subnet)
	}
	c.Status, c.Detail = OK, "routed: "+strings.Join(ok, " ")
	return c
}

// specificRoute reports a route in "ip route show match" output that is
// not the default one.
func specificRoute(out string) bool {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "default" {
			return true
		}
	}
	return false
}

func memberAddress(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Hostname() == "" {
		return "THE-MEMBER"
	}
	return p.Hostname()
}
