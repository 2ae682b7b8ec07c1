package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/doctor"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/spf13/cobra"
)

func (a *app) doctorCmd() *cobra.Command {
	var v cli.Values
	c := &cobra.Command{
		Use: "doctor", Short: "check the host before (and while) serving", Args: noArgs("lxcgate doctor [--json]"),
		Long: "Checks LXD, its storage pool and bridge, iptables and lxcgate's chains, the host port range,\n" +
			"the GPUs, the data directory and the host key. Each check says ok, warn or fail and what to do.\n" +
			"Exits 1 when any check fails. serve logs the same checks at start.",
		RunE: func(*cobra.Command, []string) error {
			if err := a.cfg.Validate(); err != nil {
				return err
			}
			lx, err := a.lxdClient(newLogger(a.cfg.Log, io.Discard))
			if err != nil {
				return err
			}
			r := doctor.Run(context.Background(), a.doctorEnv(lx))
			if v.Bool("json") {
				if err := r.WriteJSON(a.stdout); err != nil {
					return err
				}
			} else {
				writeReport(a.stdout, r)
			}
			if n := r.Failures(); n > 0 {
				return fmt.Errorf("doctor: %d of %d checks failed", n, len(r.Checks))
			}
			return nil
		},
	}
	v = cli.DefineFlags(c.Flags(), []cli.Flag{{Name: "json", Help: `print {"checks":[{"name","status","detail"}...]}`}})
	return c
}

// doctorEnv is the host as this configuration sees it.
func (a *app) doctorEnv(lx *lxd.Client) doctor.Env {
	first, last, _ := a.cfg.Ports.PortRange()
	e := doctor.Env{
		LXD: doctorLXD{lx}, Runner: hostRunner{}, LookPath: exec.LookPath, InUse: doctor.BindProbe,
		ChainPrefix: a.cfg.Ports.ChainPrefix + "-", PortFirst: first, PortLast: last,
		NAT: a.cfg.Containers.NAT, NvidiaRuntime: a.cfg.GPU.NvidiaRuntime,
		DataDir: a.cfg.Data, DBFile: filepath.Join(a.cfg.Data, "lxcgate.db"),
		HostKey: filepath.Join(a.cfg.Data, "ssh_host_ed25519_key"),
	}
	if a.cfg.LXD.URL == "" { // LXD on this host: its lxcfs is ours to see
		e.Mounts = "/proc/self/mounts"
	}
	return e
}

// logReport logs each check at the level its status calls for.
func logReport(log *slog.Logger, r doctor.Report) {
	for _, c := range r.Checks {
		level := slog.LevelInfo
		switch c.Status {
		case doctor.Warn:
			level = slog.LevelWarn
		case doctor.Fail:
			level = slog.LevelError
		}
		log.Log(context.Background(), level, "doctor", "check", c.Name, "status", string(c.Status), "detail", c.Detail)
	}
}

func writeReport(w io.Writer, r doctor.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Status, c.Name, c.Detail)
	}
	tw.Flush()
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
