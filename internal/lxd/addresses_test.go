package lxd

import (
	"maps"
	"slices"
	"testing"

	"github.com/canonical/lxd/shared/api"
)

// Scenario (issue 19): on LXD's default bridge (IPv6 on) LXD lists two
// dynamic leases for an instance's MAC, its IPv4 one (host name "*" when
// the DHCP client sends none) and an IPv6 one (SLAAC, named after the
// instance). The reader kept the first per MAC whatever its family, so
// with the IPv6 one first the container never got an address, a DNAT or
// -J. Only IPv4 leases count, in either order; a static IPv4 still wins.
func TestLeaseMapIPv4Only(t *testing.T) {
	const mac = "00:16:3e:aa:bb:cc"
	v4 := api.NetworkLease{Hostname: "*", Address: "10.166.0.23", Hwaddr: mac, Type: "dynamic"}
	v6 := api.NetworkLease{Hostname: "pk1", Address: "fd42:6c78:6367:0:216:3eff:feaa:bbcc", Hwaddr: "00:16:3E:AA:BB:CC", Type: "dynamic"}
	static4 := api.NetworkLease{Hostname: "pk1", Address: "10.166.0.50", Hwaddr: mac, Type: "static"}
	static6 := api.NetworkLease{Hostname: "pk1", Address: "fd42:6c78:6367::50", Hwaddr: mac, Type: "static"}
	gw := api.NetworkLease{Hostname: "lxdbr0.gw", Address: "10.166.0.1", Type: "gateway"}
	for _, tc := range []struct {
		name   string
		leases []api.NetworkLease
		want   string
	}{
		{"IPv4 first", []api.NetworkLease{gw, v4, v6}, "10.166.0.23"},
		{"IPv6 first", []api.NetworkLease{gw, v6, v4}, "10.166.0.23"},
		{"only IPv6", []api.NetworkLease{v6}, ""},
		{"static IPv4 after both", []api.NetworkLease{v6, v4, static4}, "10.166.0.50"},
		{"static IPv4 before both", []api.NetworkLease{static4, v6, v4}, "10.166.0.50"},
		{"static IPv6 does not hide IPv4", []api.NetworkLease{static6, v4, v6}, "10.166.0.23"},
	} {
		for _, ls := range [][]api.NetworkLease{tc.leases, reversed(tc.leases)} {
			got, ok := leaseMap(ls)[mac]
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("%s, leases %v: address %q (present %v), want %q", tc.name, ls, got, ok, tc.want)
			}
		}
	}
}

func reversed(ls []api.NetworkLease) []api.NetworkLease {
	out := slices.Clone(ls)
	slices.Reverse(out)
	return out
}

// containers.network puts a new container's eth0 on another bridge (the
// lab's IPv6 one), filtered like every NIC lxcgate makes, whatever the
// default profile's NIC was.
func TestWithNetwork(t *testing.T) {
	want := map[string]string{"type": "nic", "network": "lxdbr6", "name": "eth0",
		"security.mac_filtering": "true", "security.ipv4_filtering": "true"}
	for _, nics := range []map[string]map[string]string{
		{"eth0": {"type": "nic", "network": "lxdbr0", "name": "eth0"}},
		{"eth0": {"type": "nic", "nictype": "bridged", "parent": "br0"}},
		{},
	} {
		withNetwork(nics, "lxdbr6")
		if len(nics) != 1 || !maps.Equal(nics["eth0"], want) {
			t.Errorf("withNetwork: %v, want eth0 %v", nics, want)
		}
	}
	nics := map[string]map[string]string{"net1": {"type": "nic", "network": "lxdbr0", "name": "ens3"}}
	withNetwork(nics, "lxdbr6")
	if n := nics["net1"]; n["network"] != "lxdbr6" || n["name"] != "ens3" || n["parent"] != "" {
		t.Errorf("withNetwork kept the device and its name: %v", nics)
	}
}
