package shell

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/units"
)

// The listings: each writes a table, or its data in the format asked for.

func runImages(c *Ctx, _ []string) error {
	imgs, err := c.containers().Images(c.Context())
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	type image struct {
		Alias       string `json:"alias"`
		Description string `json:"description"`
		Size        int64  `json:"size"`
	}
	out := []image{}
	for _, im := range imgs {
		out = append(out, image{im.Alias, im.Description, im.Size})
	}
	return c.Emit(out, func() error {
		tw := c.Table()
		fmt.Fprintln(tw, "ALIAS\tSIZE\tDESCRIPTION")
		for _, im := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", im.Alias, units.FormatSize(im.Size), im.Description)
		}
		return tw.Flush()
	})
}

func runList(c *Ctx, _ []string) error {
	all := c.Flags.Bool("all")
	list, err := c.containers().List(c.Context(), c.User.Name, all)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	for i := range list {
		list[i] = list[i].InUTC()
	}
	return c.Emit(list, func() error {
		if len(list) == 0 {
			fmt.Fprintln(c.Err, "No containers yet; 'launch NAME' makes one.")
			return nil
		}
		return writeList(c.Table(), list, all)
	})
}

// writeList is list's table: the columns a single host never fills
// (HOST) and those no container needs (EXPIRES, REASON) only when used.
func writeList(tw *tabwriter.Writer, list []containers.Container, all bool) error {
	has := func(f func(containers.Container) bool) bool { return slices.ContainsFunc(list, f) }
	cluster := has(func(ct containers.Container) bool { return ct.Host != "" })
	leased := has(func(ct containers.Container) bool { return ct.Expires != nil })
	reasons := has(func(ct containers.Container) bool { return ct.Reason != "" })
	if all {
		fmt.Fprint(tw, "OWNER\t")
	}
	fmt.Fprint(tw, "NAME\tSTATE\tIPV4\tIMAGE\tCPU\tMEMORY\tGPUS")
	cond := func(on bool, s string) {
		if on {
			fmt.Fprint(tw, "\t"+s)
		}
	}
	cond(cluster, "HOST")
	cond(leased, "EXPIRES")
	cond(reasons, "REASON")
	fmt.Fprintln(tw)
	for _, ct := range list {
		if all {
			fmt.Fprintf(tw, "%s\t", ct.Owner)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s", ct.Name, ct.State, dash(ct.IPv4), ct.Image, ct.CPU,
			units.FormatSize(ct.Memory), dash(strings.Join(ct.GPUs, ",")))
		cond(cluster, dash(ct.Host))
		cond(leased, dash(expires(ct)))
		cond(reasons, dash(ct.Reason))
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// expires is when a container's lease runs out, as list and details say
// it; "expired" once it has.
func expires(ct containers.Container) string {
	switch {
	case ct.Expires == nil:
		return ""
	case ct.Reason == containers.ReasonExpired || !time.Now().Before(*ct.Expires):
		return "expired"
	}
	return cli.TableTime(*ct.Expires)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runDetails(c *Ctx, args []string) error {
	ct, err := c.containers().Get(c.Context(), c.User.Name, args[0])
	if err != nil {
		return err
	}
	ct = ct.InUTC()
	return c.Emit(ct, func() error { return c.writeDetails(ct) })
}

// writeDetails is details' table.
func (c *Ctx) writeDetails(ct containers.Container) error {
	tw := c.Table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("name", ct.Name)
	row("owner", ct.Owner)
	row("state", ct.State)
	if ct.Host != "" {
		row("host", ct.Host)
	}
	row("ipv4", dash(ct.IPv4))
	row("image", ct.Image)
	row("created", cli.TableTime(ct.Created))
	row("cpu", strconv.Itoa(ct.CPU))
	row("memory", units.FormatSize(ct.Memory))
	row("disk", units.FormatSize(ct.Disk))
	row("gpus", dash(strings.Join(ct.GPUs, ",")))
	if ms := containers.GPUMembers(ct.GPUs); len(ms) > 0 {
		// The gateway's nvidia-smi sees its own host only.
		row("gpu activity", "unknown on "+strings.Join(ms, ",")+" (idle stops weigh CPU and connections only)")
	}
	if ct.Expires != nil {
		row("expires", expires(ct))
	}
	if ct.Reason != "" {
		row("stopped", "by the gateway: "+ct.Reason)
	}
	row("snapshots", strconv.Itoa(ct.Snapshots))
	if len(ct.Ports) == 0 {
		row("ports", "none published")
	}
	for _, p := range ct.Ports {
		if p.Web {
			row(p.Service, fmt.Sprintf("web app -> %d   %s", p.ContainerPort, p.URL))
			continue
		}
		row(p.Service, fmt.Sprintf("%d -> %d   %s", p.HostPort, p.ContainerPort, c.sh.reach(p)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.sh.gateway != "" {
		fmt.Fprintf(c.Out, "\n# ~/.ssh/config: 'ssh %s' (and scp, sftp, rsync, VS Code) goes in with your gateway key;\n"+
			"# the -port and -via-gw blocks reach its sshd with a key from 'key %s' in ~/.ssh/lxcgate-%s\n", ct.Name, ct.Name, ct.Name)
		writeSSHConfig(c.Out, c.sh.sshHosts(c.User.Name, ct))
	}
	if ct.State != "running" && len(ct.Ports) > 0 {
		fmt.Fprintf(c.Err, "The ports answer while %s runs; 'start %s' starts it.\n", ct.Name, ct.Name)
	}
	return nil
}

// reach is a ready command or URL for a published port.
func (sh *Shell) reach(p containers.Port) string { return p.Reach(sh.public) }

func runPorts(c *Ctx, args []string) error {
	ct, err := c.containers().Get(c.Context(), c.User.Name, args[0])
	if err != nil {
		return err
	}
	return c.Emit(ct.Ports, func() error {
		tw := c.Table()
		fmt.Fprintln(tw, "SERVICE\tCONTAINER\tHOST\tREACH")
		for _, p := range ct.Ports {
			host := strconv.Itoa(p.HostPort)
			if p.Web {
				host = "web"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Service, p.ContainerPort, host, c.sh.reach(p))
		}
		return tw.Flush()
	})
}

func runGPUs(c *Ctx, _ []string) error {
	gs, err := c.containers().GPUs(c.Context())
	if err != nil {
		return fmt.Errorf("gpus: %w", err)
	}
	out := containers.ViewGPUs(gs, c.User.Name, c.User.IsAdmin())
	return c.Emit(out, func() error {
		if len(out) == 0 {
			fmt.Fprintln(c.Err, "This host has no GPUs.")
			return nil
		}
		tw := c.Table()
		fmt.Fprintln(tw, "ID\tVENDOR\tMODEL\tPCI\tUUID\tUSE\tMEMORY\tHELD BY")
		for _, g := range out {
			use, mem := "-", "-"
			if g.Util != nil {
				use = fmt.Sprintf("%.0f%%", *g.Util)
			}
			if g.MemTotal > 0 {
				mem = units.FormatSize(g.MemUsed) + " / " + units.FormatSize(g.MemTotal)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(g.ID), g.Vendor, g.Model, dash(g.PCI), dash(g.UUID), use, mem,
				dash(strings.Join(g.Holders, ",")))
		}
		return tw.Flush()
	})
}
