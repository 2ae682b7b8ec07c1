package lxd

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

func TestCheckMapsErrors(t *testing.T) {
	c := New(Conn{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tc := range []struct {
		err  error
		want error
	}{
		{api.StatusErrorf(http.StatusNotFound, "Instance not found"), ErrNotFound},
		{api.StatusErrorf(http.StatusConflict, "Instance \"dev\" already exists"), ErrExists},
		{api.StatusErrorf(http.StatusNotFound, "Not Found"), ErrNotFound}, // by status alone
		{api.StatusErrorf(http.StatusNotFound, "Image not found"), ErrImageNotFound},
		{api.StatusErrorf(http.StatusNotFound, "Project not found"), ErrProjectMissing},
		{api.StatusErrorf(http.StatusNotFound, "Image alias not found"), ErrImageNotFound},
		{api.StatusErrorf(http.StatusNotFound, `Failed to fetch snapshot "nope" of instance "box" in project "lxcgate-alice": InstanceSnapshot not found`), ErrNotFound},
		{errors.New("The instance is already running"), ErrRunning},
		{errors.New("The instance is already stopped"), ErrNotRunning},
		{errors.New(`Failed start validation for device "eth0": Instance DNS name "dev" already used on network`), ErrDNSName},
		{errors.New("Reached maximum number of instances in project"), ErrLimit},
		{errors.New("dial unix /var/lib/lxd/unix.socket: connect: connection refused"), ErrUnavailable},
	} {
		if got := c.check("op", tc.err); !errors.Is(got, tc.want) {
			t.Errorf("check(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	// Anything else is logged, and the user gets no raw LXD text.
	got := c.check("start dev", errors.New("Failed to run: /usr/bin/lxc-start: secret host path"))
	if strings.Contains(got.Error(), "/usr/bin") || !strings.Contains(got.Error(), "start dev") {
		t.Errorf("raw error leaked: %v", got)
	}
}

func TestConvert(t *testing.T) {
	in := &api.InstanceFull{
		Instance: api.Instance{Name: "dev", Project: "lxcgate-alice", Status: "Running", StatusCode: api.Running,
			CreatedAt: time.Unix(100, 0),
			ExpandedConfig: map[string]string{"limits.cpu": "2", "limits.memory": "536870912B", "user.lxcgate.image": "lxcgate-debian",
				"volatile.eth0.hwaddr": "00:16:3E:AA:BB:CC"},
			ExpandedDevices: map[string]map[string]string{
				"root": {"type": "disk", "size": "10GiB"},
				"gpu":  {"type": "gpu"},
				"gpu1": {"type": "gpu", "pci": "0000:02:00.0"},
				"eth0": {"type": "nic", "network": "lxdbr0"},
			}},
		State: &api.InstanceState{Network: map[string]api.InstanceStateNetwork{
			"lo":   {Addresses: []api.InstanceStateNetworkAddress{{Family: "inet", Address: "127.0.0.1", Scope: "local"}}},
			"eth0": {Addresses: []api.InstanceStateNetworkAddress{{Family: "inet6", Address: "fe80::1", Scope: "link"}, {Family: "inet", Address: "10.166.0.5", Scope: "global"}}},
		}},
	}
	got := convert(in)
	// What the container reports (10.166.0.5 on eth0) is not its address:
	// only the bridge's lease for its MAC is (see TestAddresses).
	if got.IPv4 != "" || got.nic != (nic{dev: "eth0", network: "lxdbr0", mac: "00:16:3e:aa:bb:cc"}) || !got.Unfiltered() {
		t.Fatalf("convert took the container's word: %+v", got)
	}
	if got.CPU != 2 || got.Memory != 512<<20 || got.Disk != 10<<30 || !got.Running ||
		got.Image != "lxcgate-debian" || strings.Join(got.GPUs, ",") != "0000:02:00.0,all" {
		t.Fatalf("convert: %+v", got)
	}
}

func TestSubnetValid(t *testing.T) {
	gw, ipnet, _ := net.ParseCIDR("10.166.0.1/24")
	sn := subnet{gw: gw.To4(), net: ipnet}
	for addr, ok := range map[string]bool{
		"10.166.0.23": true, "10.166.0.254": true,
		"10.166.0.1": false, "10.166.0.0": false, "10.166.0.255": false, // bridge, network, broadcast
		"10.177.0.1": false, "127.0.0.1": false, "10.166.1.5": false, "::1": false, "": false, "10.166.0.023": false,
		"::ffff:10.166.0.23": true, // the same IPv4 address
	} {
		if got := sn.valid(addr); got != ok {
			t.Errorf("valid(%q) = %v, want %v", addr, got, ok)
		}
	}
}

func TestPrimaryNIC(t *testing.T) {
	devs := map[string]map[string]string{
		"aaa":  {"type": "nic", "nictype": "bridged", "parent": "br1"},
		"eth0": {"type": "nic", "network": "lxdbr0", "security.mac_filtering": "true", "security.ipv4_filtering": "true"},
		"root": {"type": "disk"},
	}
	n := primaryNIC(devs, map[string]string{"volatile.eth0.hwaddr": "00:16:3e:00:00:01"})
	if n != (nic{dev: "eth0", network: "lxdbr0", mac: "00:16:3e:00:00:01", filtered: true}) {
		t.Fatalf("eth0 first: %+v", n)
	}
	delete(devs, "eth0")
	n = primaryNIC(devs, map[string]string{"volatile.aaa.hwaddr": "00:16:3e:00:00:02"})
	if n.dev != "aaa" || n.network != "br1" || n.filtered {
		t.Fatalf("unmanaged bridge: %+v", n)
	}
	if n := primaryNIC(map[string]map[string]string{"root": {"type": "disk"}}, nil); n.dev != "" {
		t.Fatalf("no NIC: %+v", n)
	}
}
