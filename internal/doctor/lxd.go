package doctor

import (
	"context"
	"fmt"
)

// LXD is what the checks need from the LXD daemon.
type LXD interface {
	ServerVersion(ctx context.Context) (string, error)
	// NetworkConfig is the config of the named network (bridge).
	NetworkConfig(ctx context.Context, name string) (map[string]string, error)
	// GPUs is how many GPUs LXD's resources report.
	GPUs(ctx context.Context) (int, error)
}

// CheckLXD reports whether LXD answers and its version.
func CheckLXD(ctx context.Context, l LXD) Check {
	c := Check{Name: "lxd"}
	v, err := l.ServerVersion(ctx)
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("LXD unreachable: %v: start LXD (lxd waitready)", err)
		return c
	}
	c.Status, c.Detail = OK, "LXD "+v
	return c
}

// CheckBridge compares the bridge's NAT with the configured wish and
// requires dns.mode=none so two users can each run a container "dev".
func CheckBridge(ctx context.Context, l LXD, bridge string, wantNAT bool) Check {
	c := Check{Name: "bridge"}
	cfg, err := l.NetworkConfig(ctx, bridge)
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("network %s: %v", bridge, err)
		return c
	}
	nat := cfg["ipv4.nat"] == "true"
	switch {
	case nat != wantNAT:
		c.Status, c.Detail = Warn, fmt.Sprintf("%s ipv4.nat=%t, configured %t: lxc network set %s ipv4.nat=%t", bridge, nat, wantNAT, bridge, wantNAT)
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
	c.Status, c.Detail = OK, fmt.Sprintf("%d GPUs found", n)
	return c
}
