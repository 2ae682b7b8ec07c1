package lxd

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

func TestCheckMapsErrors(t *testing.T) {
	c := New("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, tc := range []struct {
		err  error
		want error
	}{
		{api.StatusErrorf(http.StatusNotFound, "Instance not found"), ErrNotFound},
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
			CreatedAt:      time.Unix(100, 0),
			ExpandedConfig: map[string]string{"limits.cpu": "2", "limits.memory": "536870912B", "user.lxcgate.image": "lxcgate-debian"},
			ExpandedDevices: map[string]map[string]string{
				"root": {"type": "disk", "size": "10GiB"},
				"gpu":  {"type": "gpu"},
				"gpu1": {"type": "gpu", "pci": "0000:02:00.0"},
			}},
		State: &api.InstanceState{Network: map[string]api.InstanceStateNetwork{
			"lo":   {Addresses: []api.InstanceStateNetworkAddress{{Family: "inet", Address: "127.0.0.1", Scope: "local"}}},
			"eth0": {Addresses: []api.InstanceStateNetworkAddress{{Family: "inet6", Address: "fe80::1", Scope: "link"}, {Family: "inet", Address: "10.166.0.5", Scope: "global"}}},
		}},
	}
	got := convert(in)
	if got.CPU != 2 || got.Memory != 512<<20 || got.Disk != 10<<30 || got.IPv4 != "10.166.0.5" || !got.Running ||
		got.Image != "lxcgate-debian" || strings.Join(got.GPUs, ",") != "0000:02:00.0,all" {
		t.Fatalf("convert: %+v", got)
	}
}
