package lxd

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// An instance's address is what the host decided, never what the container
// says: LXD's state.network is read from inside the container, where root
// may put any address (a host address, another tenant's) on eth0. lxcgate
// takes the bridge's DHCP lease for the MAC of the instance's NIC (the MAC
// is host config), requires it to lie inside the bridge's subnet and not be
// the bridge itself, and turns on LXD's MAC and IPv4 filtering on the NIC,
// so that the container can neither send from another address nor obtain a
// lease for one (LXD pins the filtered address as a static DHCP host).

// nic is the network device whose address lxcgate publishes.
type nic struct {
	dev, network, mac string
	routed            string // a routed NIC's configured IPv4 address
	filtered          bool
}

// primaryNIC picks eth0, else the first NIC by device name.
func primaryNIC(devs map[string]map[string]string, cfg map[string]string) nic {
	var names []string
	for name, d := range devs {
		if d["type"] == "nic" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nic{}
	}
	sort.Strings(names)
	dev := names[0]
	if _, ok := devs["eth0"]; ok && devs["eth0"]["type"] == "nic" {
		dev = "eth0"
	}
	d := devs[dev]
	if d["nictype"] == "routed" {
		// The configured address is the only one the host routes to it.
		return nic{dev: dev, routed: d["ipv4.address"], filtered: true}
	}
	n := nic{dev: dev, network: d["network"], mac: cfg["volatile."+dev+".hwaddr"],
		filtered: d["security.mac_filtering"] == "true" && d["security.ipv4_filtering"] == "true"}
	if n.network == "" {
		n.network = d["parent"] // an unmanaged bridge: leases are LXD's only for managed ones
	}
	if n.mac == "" {
		n.mac = d["hwaddr"]
	}
	n.mac = strings.ToLower(n.mac)
	return n
}

// subnet is a bridge's IPv4 network and its own address on it.
type subnet struct {
	gw  net.IP
	net *net.IPNet
	at  time.Time
}

// subnetTTL bounds how long a bridge's address is trusted from cache.
const subnetTTL = time.Minute

type subnets struct {
	mu sync.Mutex
	m  map[string]subnet
}

// bridge returns network's subnet, from cache while fresh.
func (c *Client) bridge(srv lxdclient.InstanceServer, network string) (subnet, error) {
	c.nets.mu.Lock()
	s, ok := c.nets.m[network]
	c.nets.mu.Unlock()
	if ok && time.Since(s.at) < subnetTTL {
		return s, nil
	}
	n, _, err := srv.UseProject("default").GetNetwork(network)
	if err != nil {
		return subnet{}, c.check("network "+network, err)
	}
	gw, ipnet, err := net.ParseCIDR(n.Config["ipv4.address"])
	if err != nil || gw.To4() == nil {
		return subnet{}, fmt.Errorf("network %s has no IPv4 subnet", network)
	}
	s = subnet{gw: gw.To4(), net: ipnet, at: time.Now()}
	c.nets.mu.Lock()
	if c.nets.m == nil {
		c.nets.m = map[string]subnet{}
	}
	c.nets.m[network] = s
	c.nets.mu.Unlock()
	return s, nil
}

// valid reports whether addr may be dialled and DNATed to: an IPv4
// address of the subnet's hosts, not the bridge, the network or broadcast.
func (s subnet) valid(addr string) bool {
	ip := net.ParseIP(addr).To4()
	if ip == nil || !s.net.Contains(ip) || ip.Equal(s.gw) {
		return false
	}
	bcast := make(net.IP, 4)
	for i := range ip {
		bcast[i] = s.net.IP.To4()[i] | ^s.net.Mask[i]
	}
	return !ip.Equal(s.net.IP.To4()) && !ip.Equal(bcast)
}

// leases maps MAC to leased IPv4 address for one project's instances on
// network (see leaseMap).
func (c *Client) leases(srv lxdclient.InstanceServer, project, network string) (map[string]string, error) {
	ls, err := srv.UseProject(project).GetNetworkLeases(network)
	if err != nil {
		return nil, c.check("leases of "+network, err)
	}
	return leaseMap(ls), nil
}

// leaseMap maps MAC to leased IPv4 address; a static lease wins over a
// dynamic one. On a bridge with IPv6 (LXD's default) a MAC also has an
// IPv6 lease, listed before or after the IPv4 one: it never counts.
func leaseMap(ls []api.NetworkLease) map[string]string {
	out := map[string]string{}
	for _, l := range ls {
		mac := strings.ToLower(l.Hwaddr)
		if mac == "" || (l.Type != "static" && l.Type != "dynamic") || net.ParseIP(l.Address).To4() == nil {
			continue
		}
		if _, have := out[mac]; have && l.Type != "static" {
			continue
		}
		out[mac] = l.Address
	}
	return out
}

// addresses fills in the host-side IPv4 of running instances, with one
// leases call per (project, network). An instance whose lease is missing or
// outside the bridge's subnet gets none, and so no mapping.
func (c *Client) addresses(srv lxdclient.InstanceServer, ins []Instance) {
	type group struct{ project, network string }
	byGroup := map[group][]int{}
	for i, in := range ins {
		if in.Running && in.nic.routed != "" {
			if ip := net.ParseIP(in.nic.routed).To4(); ip != nil && ip.IsGlobalUnicast() {
				ins[i].IPv4 = ip.String()
			}
			continue
		}
		if in.Running && in.nic.mac != "" && in.nic.network != "" {
			g := group{in.Project, in.nic.network}
			byGroup[g] = append(byGroup[g], i)
		}
	}
	for g, idx := range byGroup {
		sn, err := c.bridge(srv, g.network)
		if err != nil {
			c.log.Warn("no subnet for the instances' network; they stay without address", "network", g.network, "err", err)
			continue
		}
		leases, err := c.leases(srv, g.project, g.network)
		if err != nil {
			c.log.Warn("no leases; the instances stay without address", "project", g.project, "network", g.network, "err", err)
			continue
		}
		for _, i := range idx {
			addr := leases[ins[i].nic.mac]
			if addr == "" {
				continue // not leased yet: DHCP still running
			}
			if !sn.valid(addr) {
				c.log.Warn("refused a lease outside the bridge's hosts", "project", g.project, "name", ins[i].Name, "address", addr)
				continue
			}
			ins[i].IPv4 = net.ParseIP(addr).To4().String()
		}
	}
}

// profile is what a new instance takes from the default profile: its
// NICs, with LXD's MAC and IPv4 filtering turned on, and its root pool.
type profile struct {
	nics map[string]map[string]string
	pool string
}

// defaultProfile reads the default profile, cached like subnets.
func (c *Client) defaultProfile(srv lxdclient.InstanceServer) (profile, error) {
	c.nets.mu.Lock()
	cached, at := c.profile, c.profileAt
	c.nets.mu.Unlock()
	if cached.nics != nil && time.Since(at) < subnetTTL {
		return cached, nil
	}
	p, _, err := srv.UseProject("default").GetProfile("default")
	if err != nil {
		return profile{}, c.check("get profile default", err)
	}
	out := profile{nics: map[string]map[string]string{}, pool: "default"}
	for name, d := range p.Devices {
		switch {
		case d["type"] == "nic":
			out.nics[name] = filtered(d)
		case d["type"] == "disk" && d["path"] == "/" && d["pool"] != "":
			out.pool = d["pool"]
		}
	}
	if c.Network != "" {
		withNetwork(out.nics, c.Network)
	}
	c.nets.mu.Lock()
	c.profile, c.profileAt = out, time.Now()
	c.nets.mu.Unlock()
	return out, nil
}

// withNetwork points the primary NIC (eth0, else the first by name, else a
// new eth0), keeping its name in the container, at network: a managed
// bridge, filtered as every NIC lxcgate makes.
func withNetwork(nics map[string]map[string]string, network string) {
	dev := "eth0"
	if _, ok := nics[dev]; !ok && len(nics) > 0 {
		names := make([]string, 0, len(nics))
		for name := range nics {
			names = append(names, name)
		}
		sort.Strings(names)
		dev = names[0]
	}
	name := nics[dev]["name"]
	if name == "" {
		name = dev
	}
	nics[dev] = filtered(map[string]string{"type": "nic", "network": network, "name": name})
}

// routedNIC is eth0 as a routed NIC: the member routes addr to the
// container's veth and nothing else, so the address is the host's
// decision, and no DHCP is needed.
func routedNIC(addr string) map[string]string {
	return map[string]string{"type": "nic", "nictype": "routed", "name": "eth0", "ipv4.address": addr}
}

func filtered(d map[string]string) map[string]string {
	out := make(map[string]string, len(d)+2)
	for k, v := range d {
		out[k] = v
	}
	out["security.mac_filtering"] = "true"
	out["security.ipv4_filtering"] = "true"
	return out
}

// Unfiltered reports an instance whose NIC lacks MAC and IPv4 filtering.
func (in Instance) Unfiltered() bool { return in.nic.dev != "" && !in.nic.filtered }

// SecureNIC turns on MAC and IPv4 filtering on an existing instance's NIC
// (containers made before lxcgate did it at create, or adopted ones). LXD
// applies it to a running container at once.
func (c *Client) SecureNIC(ctx context.Context, project, name string) error {
	defer c.timed("secure-nic")()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	in, etag, err := srv.GetInstanceFull(name)
	if err != nil {
		return c.check("get "+name, err)
	}
	n := primaryNIC(in.ExpandedDevices, in.ExpandedConfig)
	if n.dev == "" || n.filtered {
		return nil
	}
	put := in.Writable()
	if put.Devices == nil {
		put.Devices = map[string]map[string]string{}
	}
	put.Devices[n.dev] = filtered(in.ExpandedDevices[n.dev])
	op, err := srv.UpdateInstance(name, put, etag)
	if err != nil {
		return c.check("secure the network of "+name, err)
	}
	return c.check("secure the network of "+name, wait(ctx, op, nil))
}
