package doctor

import (
	"context"
	"fmt"
)

// Host is what the checks read of the LXD host.
type Host struct {
	Version       string
	Pool          string
	PoolDriver    string
	Network       string // the default profile's bridge
	NetworkConfig map[string]string
}

// LXD is what the checks need from the LXD daemon.
type LXD interface {
	// Host fails only when LXD does not answer; what it could not read
	// it leaves empty.
	Host(ctx context.Context) (Host, error)
	// GPUs is how many GPUs LXD's resources report.
	GPUs(ctx context.Context) (int, error)
	// Members is nil when LXD is not a cluster.
	Members(ctx context.Context) ([]Member, error)
}

// CheckLXD reports whether LXD answers and its version.
func CheckLXD(h Host, err error) Check {
	c := Check{Name: "lxd"}
	if err != nil && h.Version == "" {
		c.Status, c.Detail = Fail, fmt.Sprintf("LXD unreachable: %v: start LXD (lxd waitready) or set containers.lxd_socket", err)
		return c
	}
	c.Status, c.Detail = OK, "LXD "+h.Version
	return c
}

// CheckBridge compares the bridge's NAT with the configured wish and
// requires dns.mode=none so two users can each run a container "dev".
func CheckBridge(h Host, wantNAT bool) Check {
	c := Check{Name: "bridge"}
	bridge, cfg := h.Network, h.NetworkConfig
	switch {
	case bridge == "":
		c.Status, c.Detail = Fail, "the default profile has no NIC on a managed network: lxc profile device add default eth0 nic network=lxdbr0 name=eth0"
		return c
	case cfg == nil:
		c.Status, c.Detail = Fail, fmt.Sprintf("network %s can't be read: is it an LXD managed bridge? (lxc network show %s)", bridge, bridge)
		return c
	}
	nat := cfg["ipv4.nat"] == "true"
	switch {
	case nat != wantNAT:
		c.Status, c.Detail = Warn, fmt.Sprintf("%s ipv4.nat=%t, configured %t: lxc network set %s ipv4.nat=%t (or set containers.nat)", bridge, nat, wantNAT, bridge, wantNAT)
	case cfg["dns.mode"] != "none":
		c.Status, c.Detail = Warn, fmt.Sprintf("%s dns.mode=%q: two users can't both run \"dev\": lxc network set %s dns.mode=none", bridge, cfg["dns.mode"], bridge)
	default:
		c.Status, c.Detail = OK, fmt.Sprintf("%s ipv4.nat=%t dns.mode=none", bridge, nat)
	}
	return c
}

// CheckGPUs reports the GPUs LXD sees; with the NVIDIA runtime on, a
// missing nvidia-container-cli fails.
func CheckGPUs(ctx context.Context, l LXD, nvidiaRuntime bool, lookPath func(string) (string, error)) Check {
	c := Check{Name: "gpus"}
	n, err := l.GPUs(ctx)
	if err != nil {
		c.Status, c.Detail = Warn, fmt.Sprintf("LXD resources: %v", err)
		return c
	}
	if nvidiaRuntime {
		if _, err := lookPath("nvidia-container-cli"); err != nil {
			c.Status, c.Detail = Fail, fmt.Sprintf("%d GPUs; [gpu] nvidia_runtime is on but nvidia-container-cli is missing: install libnvidia-container-tools", n)
			return c
		}
	}
	if n == 0 {
		c.Status, c.Detail = Warn, "no GPUs found: containers get none (is the driver loaded? nvidia-smi)"
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%d GPUs found", n)
	return c
}
