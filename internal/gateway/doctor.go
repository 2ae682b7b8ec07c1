package gateway

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/doctor"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/portmap"
)

// Doctor runs the host checks cfg calls for ('lxcgate doctor'; serve
// logs the same at start).
func Doctor(ctx context.Context, cfg config.Config) (doctor.Report, error) {
	if err := cfg.Validate(); err != nil {
		return doctor.Report{}, err
	}
	lx, err := LXDClient(cfg, NewLogger(cfg.Log, io.Discard))
	if err != nil {
		return doctor.Report{}, err
	}
	return doctor.Run(ctx, doctorEnv(cfg, lx)), nil
}

// doctorEnv is the host as this configuration sees it.
func doctorEnv(cfg config.Config, lx *lxd.Client) doctor.Env {
	first, last, _ := cfg.Ports.PortRange()
	e := doctor.Env{
		LXD: doctorLXD{lx}, Runner: hostRunner{}, LookPath: exec.LookPath, InUse: doctor.BindProbe,
		ChainPrefix: cfg.Ports.ChainPrefix + "-", PortFirst: first, PortLast: last,
		NAT: cfg.Containers.NAT, NvidiaRuntime: cfg.GPU.NvidiaRuntime,
		DataDir: cfg.Data, DBFile: filepath.Join(cfg.Data, "lxcgate.db"),
		HostKey: filepath.Join(cfg.Data, "ssh_host_ed25519_key"),
	}
	if usesNFTables(cfg) {
		e.NFTable = portmap.TableName(cfg.Ports.ChainPrefix)
	}
	e.Datasets, e.DatasetMembers = map[string]string{}, map[string][]string{}
	for name, d := range cfg.Datasets {
		e.Datasets[name], e.DatasetMembers[name] = d.Source, d.Members
	}
	if cfg.LXD.URL == "" { // LXD on this host: its lxcfs is ours to see
		e.Mounts, e.ProcSys = "/proc/self/mounts", "/proc/sys"
	}
	return e
}

// doctorLXD adapts the LXD client to what the checks read.
type doctorLXD struct{ c *lxd.Client }

func (d doctorLXD) Host(ctx context.Context) (doctor.Host, error) {
	h, err := d.c.Host(ctx)
	return doctor.Host(h), err
}

// GPUs counts the host's GPUs, or every member's (simulated ones too).
func (d doctorLXD) GPUs(ctx context.Context) (int, error) {
	ms, err := d.c.Members(ctx)
	if err != nil || ms == nil {
		g, err := d.c.GPUs(ctx)
		return len(g), err
	}
	n := 0
	for _, m := range ms {
		if m.SimGPUs >= 0 {
			n += m.SimGPUs
		} else if res, err := d.c.MemberResources(ctx, m.Name); err == nil {
			n += len(res.GPUs)
		}
	}
	return n, nil
}

func (d doctorLXD) Members(ctx context.Context) ([]doctor.Member, error) {
	ms, err := d.c.Members(ctx)
	if err != nil || ms == nil {
		return nil, err
	}
	out := make([]doctor.Member, len(ms))
	for i, m := range ms {
		out[i] = doctor.Member{Name: m.Name, URL: m.URL, Online: m.Online, Subnet: m.Subnet}
	}
	return out, nil
}

// hostRunner runs host tools (iptables) for the checks.
type hostRunner struct{}

func (hostRunner) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(firstLine(string(out))))
	}
	return string(out), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
