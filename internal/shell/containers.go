package shell

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Containers is what the container commands need; containers.Service
// satisfies it. Every method takes the acting user: ownership is checked in
// every lookup, and another user's container is "no such container".
type Containers interface {
	Images(ctx context.Context) ([]lxd.Image, error)
	Create(ctx context.Context, user string, req containers.CreateRequest) (containers.Container, error)
	Start(ctx context.Context, user, name string) error
	Stop(ctx context.Context, user, name string, force bool) error
	Restart(ctx context.Context, user, name string) error
	Delete(ctx context.Context, user, name string, force bool) error
	Get(ctx context.Context, user, name string) (containers.Container, error)
	List(ctx context.Context, user string, all bool) ([]containers.Container, error)
	Names(ctx context.Context, user string) []string
	GPUs(ctx context.Context) ([]containers.GPUInfo, error)
	Quota(ctx context.Context, user string) (containers.Quota, containers.Usage, error)
	SetQuota(ctx context.Context, user string, ch containers.QuotaChange) (containers.Quota, error)
	Ports
}

// Ports is what the port commands need beyond Get: publishing and
// withdrawing a container's ports.
type Ports interface {
	PortAdd(ctx context.Context, user, name string, containerPort int, label string) (containers.Port, error)
	PortDel(ctx context.Context, user, name, label string) error
}

// AddContainers adds the container commands to the table; public is the
// host address shown in connection instructions.
func (sh *Shell) AddContainers(cs Containers, public string) {
	sh.cs = cs
	sh.public = public
	names := func(c *Ctx) []string { return cs.Names(c.ctx, c.User.Name) }
	createFlags := "[--image IMG] [--cpu N] [--memory SIZE] [--disk SIZE] [--gpu all|LIST]"
	sh.insertAfter("help",
		&Command{Name: "images", Args: "[--json]", Summary: "list the images you may launch", Run: runImages},
		&Command{Name: "create", Args: "NAME " + createFlags, Summary: "create a container (stopped)", Run: runCreate(false),
			Help: "NAME: 1-63 letters, digits and '-', starting with a letter. SIZE: e.g. 512MiB, 4GiB.\n" +
				"--gpu all gives every host GPU; --gpu 0,2 gives those (ids, UUIDs or PCI addresses from 'gpus')."},
		&Command{Name: "launch", Args: "NAME " + createFlags, Summary: "create and start a container", Run: runCreate(true),
			Help: "As create, then starts it. See 'help create' for the flags."},
		&Command{Name: "start", Args: "NAME", Summary: "start a container", Run: runAct("start"), Complete: names},
		&Command{Name: "stop", Args: "NAME [--force]", Summary: "stop a container (--force: at once)", Run: runAct("stop"), Complete: names},
		&Command{Name: "restart", Args: "NAME", Summary: "restart a container", Run: runAct("restart"), Complete: names},
		&Command{Name: "delete", Args: "NAME [--force] [--yes]", Summary: "delete a container and its data", Run: runDelete, Complete: names,
			Help: "Asks you to type the name to confirm; without a terminal, pass --yes.\nA running container needs --force."},
		&Command{Name: "list", Args: "[--all] [--json]", Summary: "list your containers (--all: everyone's, admins)", Run: runList},
		&Command{Name: "details", Args: "NAME [--json]", Summary: "show a container and how to reach it", Run: runDetails, Complete: names},
		&Command{Name: "ports", Args: "NAME [--json]", Summary: "list a container's published ports", Run: runPorts, Complete: names},
		&Command{Name: "port", Args: "add|del NAME CONTAINER_PORT|LABEL [--name LABEL]", Summary: "publish or withdraw a port",
			Run: runPort, Help: "port add NAME CONTAINER_PORT [--name LABEL], port del NAME LABEL.\n" +
				"port add dev 8888 --name jupyter publishes port 8888 of dev on a host port of its own,\n" +
				"kept for dev's lifetime; port del dev jupyter withdraws it. Ports the gateway publishes for\n" +
				"every container (such as ssh) stay."},
		&Command{Name: "gpus", Args: "[--json]", Summary: "list the host's GPUs and who holds them", Run: runGPUs},
		&Command{Name: "quota", Args: "USER [--containers N] [--cpu N] [--memory SIZE] [--disk SIZE] [--gpus N] [--ports N] [--snapshots N]",
			Summary: "show or set a user's quota", Admin: true, Run: runQuota},
	)
}

func (c *Ctx) containers() Containers { return c.s.sh.cs }

func runImages(c *Ctx, args []string) error {
	fs := c.Flags("images")
	asJSON := fs.Bool("json", false, "")
	if _, err := c.Parse(fs, args, 0, 0); err != nil {
		return err
	}
	imgs, err := c.containers().Images(c.ctx)
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	if *asJSON {
		type image struct {
			Alias       string `json:"alias"`
			Description string `json:"description"`
			Size        int64  `json:"size"`
		}
		out := []image{}
		for _, im := range imgs {
			out = append(out, image{im.Alias, im.Description, im.Size})
		}
		return c.JSON(out)
	}
	tw := c.Table()
	fmt.Fprintln(tw, "ALIAS\tSIZE\tDESCRIPTION")
	for _, im := range imgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", im.Alias, units.FormatSize(im.Size), im.Description)
	}
	return tw.Flush()
}

// sizeFlag is a flag.Value for sizes such as 4GiB.
type sizeFlag struct{ n int64 }

func (f *sizeFlag) String() string { return units.FormatSize(f.n) }
func (f *sizeFlag) Set(s string) error {
	n, err := units.ParseSize(s)
	f.n = n
	return err
}

func runCreate(start bool) func(c *Ctx, args []string) error {
	verb := "create"
	if start {
		verb = "launch"
	}
	return func(c *Ctx, args []string) error {
		fs := c.Flags(verb)
		image := fs.String("image", "", "")
		cpu := fs.Int("cpu", 0, "")
		gpu := fs.String("gpu", "", "")
		var mem, disk sizeFlag
		fs.Var(&mem, "memory", "")
		fs.Var(&disk, "disk", "")
		pos, err := c.Parse(fs, args, 1, 1)
		if err != nil {
			return err
		}
		if *cpu < 0 {
			return Usagef("--cpu must be a positive number")
		}
		if err := containers.ValidName(pos[0]); err != nil {
			return err
		}
		req := containers.CreateRequest{Name: pos[0], Image: *image, CPU: *cpu, Memory: mem.n, Disk: disk.n, GPU: *gpu, Start: start}
		p := c.progress()
		req.Progress = p.line // its first line comes once every check has passed
		ct, err := c.containers().Create(c.ctx, c.User.Name, req)
		p.done()
		if err != nil {
			return err
		}
		if start {
			fmt.Fprintf(c.Err, "Launched %s", ct.Name)
			if ct.IPv4 != "" {
				fmt.Fprintf(c.Err, " (%s)", ct.IPv4)
			}
			fmt.Fprintf(c.Err, ". See 'details %s'.\n", ct.Name)
		} else {
			fmt.Fprintf(c.Err, "Created %s; 'start %s' starts it.\n", ct.Name, ct.Name)
		}
		return nil
	}
}

// progress shows operation progress: one live line on a terminal, plain
// lines otherwise.
type progress struct {
	c     *Ctx
	shown bool
}

func (c *Ctx) progress() *progress { return &progress{c: c} }

func (p *progress) line(s string) {
	if p.c.Interactive {
		fmt.Fprintf(p.c.Err, "\r\x1b[K%s", s)
		p.shown = true
		return
	}
	fmt.Fprintln(p.c.Err, s)
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.c.Err, "\r\x1b[K")
	}
}

func runAct(verb string) func(c *Ctx, args []string) error {
	return func(c *Ctx, args []string) error {
		fs := c.Flags(verb)
		force := false
		if verb == "stop" {
			fs.BoolVar(&force, "force", false, "")
		}
		pos, err := c.Parse(fs, args, 1, 1)
		if err != nil {
			return err
		}
		cs, name := c.containers(), pos[0]
		switch verb {
		case "start":
			err = cs.Start(c.ctx, c.User.Name, name)
		case "stop":
			err = cs.Stop(c.ctx, c.User.Name, name, force)
		case "restart":
			err = cs.Restart(c.ctx, c.User.Name, name)
		}
		if err != nil {
			return err
		}
		past := map[string]string{"start": "Started", "stop": "Stopped", "restart": "Restarted"}[verb]
		fmt.Fprintf(c.Err, "%s %s.\n", past, name)
		return nil
	}
}

func runDelete(c *Ctx, args []string) error {
	fs := c.Flags("delete")
	force := fs.Bool("force", false, "")
	yes := fs.Bool("yes", false, "")
	pos, err := c.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	if !*yes {
		if !c.Interactive {
			return fmt.Errorf("delete %s: add --yes to confirm (it deletes all its data)", name)
		}
		// Before prompting: a typo gets "no such container", not a prompt.
		if _, err := c.containers().Get(c.ctx, c.User.Name, name); err != nil {
			return err
		}
		typed, err := c.ReadLine(fmt.Sprintf("This deletes %s and all its data. Type its name to confirm: ", name))
		if err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		if typed != name {
			return fmt.Errorf("delete %s: the name did not match; nothing was deleted", name)
		}
	}
	if err := c.containers().Delete(c.ctx, c.User.Name, name, *force); err != nil {
		return err
	}
	fmt.Fprintf(c.Err, "Deleted %s.\n", name)
	return nil
}

func runList(c *Ctx, args []string) error {
	fs := c.Flags("list")
	all := fs.Bool("all", false, "")
	asJSON := fs.Bool("json", false, "")
	if _, err := c.Parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *all && !c.User.IsAdmin() {
		return errors.New("list --all needs the admin role; 'list' shows yours")
	}
	list, err := c.containers().List(c.ctx, c.User.Name, *all)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if *asJSON {
		return c.JSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(c.Err, "No containers yet; 'launch NAME' makes one.")
		return nil
	}
	tw := c.Table()
	if *all {
		fmt.Fprint(tw, "OWNER\t")
	}
	fmt.Fprintln(tw, "NAME\tSTATE\tIPV4\tIMAGE\tCPU\tMEMORY\tGPUS")
	for _, ct := range list {
		if *all {
			fmt.Fprintf(tw, "%s\t", ct.Owner)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", ct.Name, ct.State, dash(ct.IPv4), ct.Image, ct.CPU,
			units.FormatSize(ct.Memory), dash(strings.Join(ct.GPUs, ",")))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runDetails(c *Ctx, args []string) error {
	fs := c.Flags("details")
	asJSON := fs.Bool("json", false, "")
	pos, err := c.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	ct, err := c.containers().Get(c.ctx, c.User.Name, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return c.JSON(ct)
	}
	tw := c.Table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("name", ct.Name)
	row("owner", ct.Owner)
	row("state", ct.State)
	row("ipv4", dash(ct.IPv4))
	row("image", ct.Image)
	row("created", ct.Created.Format(time.DateTime+" MST"))
	row("cpu", strconv.Itoa(ct.CPU))
	row("memory", units.FormatSize(ct.Memory))
	row("disk", units.FormatSize(ct.Disk))
	row("gpus", dash(strings.Join(ct.GPUs, ",")))
	row("snapshots", strconv.Itoa(ct.Snapshots))
	if len(ct.Ports) == 0 {
		row("ports", "none published")
	}
	for _, p := range ct.Ports {
		row(p.Service, fmt.Sprintf("%d -> %d   %s", p.HostPort, p.ContainerPort, c.s.sh.reach(p)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.s.sh.gateway != "" {
		fmt.Fprintf(c.Out, "\n# ~/.ssh/config (a key from 'key %s' in ~/.ssh/lxcgate-%s)\n%s", ct.Name, ct.Name, c.s.sh.sshConfig(c.User.Name, ct))
	}
	if ct.State != "running" && len(ct.Ports) > 0 {
		fmt.Fprintf(c.Err, "The ports answer while %s runs; 'start %s' starts it.\n", ct.Name, ct.Name)
	}
	return nil
}

// reach is a ready command or URL for a published port.
func (sh *Shell) reach(p containers.Port) string {
	switch {
	case p.ContainerPort == 22 || p.Service == "ssh":
		return fmt.Sprintf("ssh -p %d ubuntu@%s", p.HostPort, sh.public)
	case p.Service == "https" || p.ContainerPort == 443:
		return fmt.Sprintf("https://%s:%d/", sh.public, p.HostPort)
	default:
		return fmt.Sprintf("http://%s:%d/", sh.public, p.HostPort)
	}
}

func runPorts(c *Ctx, args []string) error {
	fs := c.Flags("ports")
	asJSON := fs.Bool("json", false, "")
	pos, err := c.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	ct, err := c.containers().Get(c.ctx, c.User.Name, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return c.JSON(ct.Ports)
	}
	tw := c.Table()
	fmt.Fprintln(tw, "SERVICE\tCONTAINER\tHOST\tREACH")
	for _, p := range ct.Ports {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", p.Service, p.ContainerPort, p.HostPort, c.s.sh.reach(p))
	}
	return tw.Flush()
}

func runPort(c *Ctx, args []string) error {
	fs := c.Flags("port")
	label := fs.String("name", "", "")
	pos, err := c.Parse(fs, args, 1, 3)
	if err != nil {
		return err
	}
	switch {
	case pos[0] == "add" && len(pos) == 3:
		cport, err := strconv.Atoi(pos[2])
		if err != nil {
			return Usagef("CONTAINER_PORT must be a number, not %q", pos[2])
		}
		p, err := c.containers().PortAdd(c.ctx, c.User.Name, pos[1], cport, *label)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Err, "Published %s port %d on host port %d: %s\n", pos[1], p.ContainerPort, p.HostPort, c.s.sh.reach(p))
		return nil
	case pos[0] == "del" && len(pos) == 3:
		if err := c.containers().PortDel(c.ctx, c.User.Name, pos[1], pos[2]); err != nil {
			return err
		}
		fmt.Fprintf(c.Err, "Withdrew %s from %s.\n", pos[2], pos[1])
		return nil
	}
	return Usagef("use 'port add NAME CONTAINER_PORT [--name LABEL]' or 'port del NAME LABEL'")
}

func runGPUs(c *Ctx, args []string) error {
	fs := c.Flags("gpus")
	asJSON := fs.Bool("json", false, "")
	if _, err := c.Parse(fs, args, 0, 0); err != nil {
		return err
	}
	gs, err := c.containers().GPUs(c.ctx)
	if err != nil {
		return fmt.Errorf("gpus: %w", err)
	}
	if !c.User.IsAdmin() {
		// Others see that a GPU is taken, not by whom.
		for i := range gs {
			for j, h := range gs[i].Holders {
				if !strings.HasPrefix(h, c.User.Name+"/") {
					gs[i].Holders[j] = "(another user)"
				}
			}
		}
	}
	if *asJSON {
		type gpu struct {
			ID      string   `json:"id"`
			Vendor  string   `json:"vendor"`
			Model   string   `json:"model"`
			PCI     string   `json:"pci"`
			UUID    string   `json:"uuid"`
			Holders []string `json:"holders"`
		}
		out := []gpu{}
		for _, g := range gs {
			out = append(out, gpu{g.ID, g.Vendor, g.Model, g.PCI, g.UUID, g.Holders})
		}
		return c.JSON(out)
	}
	if len(gs) == 0 {
		fmt.Fprintln(c.Err, "This host has no GPUs.")
		return nil
	}
	tw := c.Table()
	fmt.Fprintln(tw, "ID\tVENDOR\tMODEL\tPCI\tUUID\tHELD BY")
	for _, g := range gs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dash(g.ID), g.Vendor, g.Model, g.PCI, dash(g.UUID), dash(strings.Join(g.Holders, ",")))
	}
	return tw.Flush()
}

func runQuota(c *Ctx, args []string) error {
	fs := c.Flags("quota")
	var ch containers.QuotaChange
	var mem, disk sizeFlag
	n, cpu, gpus, ports, snaps := -1, -1, -1, -1, -1
	fs.IntVar(&ports, "ports", -1, "")
	fs.IntVar(&snaps, "snapshots", -1, "")
	fs.IntVar(&n, "containers", -1, "")
	fs.IntVar(&cpu, "cpu", -1, "")
	fs.IntVar(&gpus, "gpus", -1, "")
	fs.Var(&mem, "memory", "")
	fs.Var(&disk, "disk", "")
	pos, err := c.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	set := false
	fs.Visit(func(f *flag.Flag) {
		set = true
		switch f.Name {
		case "containers":
			ch.Containers = &n
		case "cpu":
			ch.CPU = &cpu
		case "gpus":
			ch.GPUs = &gpus
		case "ports":
			ch.Ports = &ports
		case "snapshots":
			ch.Snapshots = &snaps
		case "memory":
			ch.Memory = &mem.n
		case "disk":
			ch.Disk = &disk.n
		}
	})
	user := pos[0]
	if set {
		if _, err := c.containers().SetQuota(c.ctx, user, ch); err != nil {
			return err
		}
	}
	q, use, err := c.containers().Quota(c.ctx, user)
	if err != nil {
		return err
	}
	return PrintQuota(c.Out, user, q, use)
}

// PrintQuota writes a user's quota beside their use; the host command
// "lxcgate user quota" prints the same.
func PrintQuota(w io.Writer, user string, q containers.Quota, use containers.Usage) error {
	fmt.Fprintf(w, "quota of %s (in use / limit):\n", user)
	fmt.Fprintf(w, "  containers  %d / %d\n", use.Containers, q.Containers)
	fmt.Fprintf(w, "  cpu         %d / %d\n", use.CPU, q.CPU)
	fmt.Fprintf(w, "  memory      %s / %s\n", units.FormatSize(use.Memory), units.FormatSize(q.Memory))
	fmt.Fprintf(w, "  disk        %s / %s\n", units.FormatSize(use.Disk), units.FormatSize(q.Disk))
	fmt.Fprintf(w, "  gpus        %d / %d\n", use.GPUs, q.GPUs)
	fmt.Fprintf(w, "  snapshots   %d at most\n", q.Snapshots)
	_, err := fmt.Fprintf(w, "  ports       %d added per container at most\n", q.Ports)
	return err
}
