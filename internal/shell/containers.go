package shell

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/units"
)

// DefaultLaunchWait is how long launch waits for the container's address.
const DefaultLaunchWait = containers.DefaultLaunchWait

var (
	forceFlag = cli.Flag{Name: "force", Short: "f", Help: "at once: stop a running container without a clean shutdown"}
	yesFlag   = cli.Flag{Name: "yes", Help: "confirm without being asked (for scripts)"}
	loginFlag = cli.Flag{Name: "user", Kind: cli.String, Arg: "LOGIN", Default: "ubuntu", Help: "the user inside the container"}
)

// createFlags are create's and launch's.
var createFlags = []cli.Flag{
	{Name: "image", Kind: cli.String, Arg: "IMG", Help: "the image to start from, as 'images' lists them (default: the gateway's)"},
	{Name: "cpu", Kind: cli.Int, Help: "CPUs"},
	{Name: "memory", Kind: cli.Size, Help: "memory, e.g. 512MiB or 4GiB"},
	{Name: "disk", Kind: cli.Size, Help: "root disk, e.g. 20GiB"},
	{Name: "gpu", Kind: cli.String, Arg: "all|LIST", Help: "all GPUs, or those listed (ids, UUIDs or PCI addresses from 'gpus', comma-separated)"},
	{Name: "gpus", Kind: cli.Int, Arg: "N", Help: "any N GPUs, whichever are free (instead of --gpu)"},
	{Name: "queue", Help: "when the GPUs are not free, wait in the queue and return at once ('queue' shows it)"},
	{Name: "wait", Help: "when the GPUs are not free, wait in the queue here until it starts (Ctrl-C leaves it queued)"},
	hostFlag,
	{Name: "lease", Kind: cli.String, Arg: "DUR", Help: "stop it after this long, e.g. 12h or 7d ('renew' extends it; default: the gateway's)"},
	volumeFlags[0], volumeFlags[1],
}

// hostFlag places a new container on a cluster member.
var hostFlag = cli.Flag{Name: "host", Kind: cli.String, Arg: "MEMBER", Help: "the cluster member to put it on (default: the gateway chooses)"}

// containerCmds are the commands on a container's life, as help lists them.
func containerCmds() []*Command {
	name := completeNames
	launchFlags := append(createFlags[:len(createFlags):len(createFlags)],
		cli.Flag{Name: "no-wait", Help: "return once it starts, without waiting for its address"})
	return []*Command{
		{Name: "images", Summary: "list the images you may launch", Flags: cli.FormatFlags, Run: runImages,
			Help: "The images create and launch take with --image."},
		{Name: "create", Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "create a container (stopped)", Flags: createFlags,
			Run: func(c *Ctx, a []string) error { return runCreate(c, a, false) }, Help: "NAME: 1-63 letters, digits and '-', starting with a letter. SIZE: e.g. 512MiB, 4GiB.\n" +
				"Flags left out take the gateway's defaults; the request must fit your quota ('quota')."},
		{Name: "launch", Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "create and start a container", Flags: launchFlags,
			Run: func(c *Ctx, a []string) error { return runCreate(c, a, true) }, Help: "As create, then starts it and waits (up to 30s) until it has its address, so that\n" +
				"'details NAME' right after is complete; ends with the ssh command that reaches it."},
		{Name: "start", Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "start a container", Complete: name,
			Help: "Starts a stopped container; its host ports are the same as before.", Run: func(c *Ctx, a []string) error {
				return c.done(c.containers().Start(c.Context(), c.User.Name, a[0]), "Started %s.", a[0])
			}},
		{Name: "stop", Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "stop a container (--force: at once)", Complete: name,
			Flags: []cli.Flag{forceFlag}, Help: "Shuts the container down cleanly; --force stops it at once.", Run: func(c *Ctx, a []string) error {
				return c.done(c.containers().Stop(c.Context(), c.User.Name, a[0], c.Flags.Bool("force")), "Stopped %s.", a[0])
			}},
		{Name: "restart", Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "restart a container", Complete: name,
			Help: "Stops and starts a running container.", Run: func(c *Ctx, a []string) error {
				return c.done(c.containers().Restart(c.Context(), c.User.Name, a[0]), "Restarted %s.", a[0])
			}},
		{Name: "delete", Aliases: []string{"rm"}, Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "delete a container and its data",
			Flags: []cli.Flag{{Name: "force", Short: "f", Help: "delete it even while it runs"}, yesFlag}, Run: runDelete, Complete: name,
			Help: "Asks you to type the name to confirm; without a terminal, pass --yes.\nA running container needs --force."},
		{Name: "renew", Args: "NAME [DUR]", MinArgs: 1, MaxArgs: 2, Summary: "extend a container's lease from now", Complete: name,
			Run: runRenew, Help: "Sets the lease of NAME to DUR from now (default: the gateway's lease), up to the gateway's\n" +
				"longest. A container stopped because its lease ran out may then be started again."},
		{Name: "lease", Args: "NAME DUR|none", MinArgs: 2, MaxArgs: 2, Admin: true, Summary: "set or clear any container's lease",
			Flags: []cli.Flag{{Name: "user", Kind: cli.String, Arg: "OWNER", Help: "whose container (default: yours)"}},
			Run:   runLease, Help: "Admins only: sets NAME's lease to DUR from now (no cap), or removes it with none."},
		{Name: "move", Args: "NAME", MinArgs: 1, MaxArgs: 1, Admin: true, Summary: "move a stopped container to another cluster member",
			Flags: []cli.Flag{{Name: "host", Kind: cli.String, Arg: "MEMBER", Help: "the member to move it to"},
				{Name: "user", Kind: cli.String, Arg: "OWNER", Help: "whose container (default: yours)"}},
			Run: runMove, Help: "Admins only. The container must be stopped and hold no GPUs; it keeps its host ports\n" +
				"and gets an address on the new member. 'start NAME' afterwards."},
		{Name: "list", Aliases: []string{"ls"}, Summary: "list your containers (--all: everyone's, admins)", Run: runList,
			Flags: append([]cli.Flag{{Name: "all", Help: "everyone's containers, with their owners", Admin: true}}, cli.FormatFlags...),
			Help:  "Name, state, address, image, CPUs, memory and GPUs of each of your containers."},
		{Name: "details", Aliases: []string{"info"}, Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "show a container and how to reach it",
			Flags: cli.FormatFlags, Run: runDetails, Complete: name,
			Help: "Everything about one container, its published ports with a ready command or URL each,\n" +
				"and a ~/.ssh/config block for it."},
	}
}

// portCmds are the commands on published ports and GPUs.
func portCmds() []*Command {
	name := completeNames
	return []*Command{
		{Name: "ports", Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "list a container's published ports", Flags: cli.FormatFlags,
			Run: runPorts, Complete: name, Help: "Each published port: service, container port, host port, and how to reach it."},
		{Name: "port", Args: "add|del NAME CONTAINER_PORT|LABEL", MinArgs: 3, MaxArgs: 3, Summary: "publish or withdraw a port",
			Subs: []*Command{
				{Name: "add", Args: "NAME CONTAINER_PORT", MinArgs: 2, MaxArgs: 2, Run: runPortAdd, Complete: name,
					Flags: []cli.Flag{{Name: "name", Kind: cli.String, Arg: "LABEL", Help: "the label of a port added (default portN)"},
						{Name: "web", Help: "serve it as a web app behind the lab's sign-in, on no host port"}}},
				{Name: "del", Args: "NAME LABEL|CONTAINER_PORT", MinArgs: 2, MaxArgs: 2, Run: runPortDel, Complete: name},
			},
			NoVerb: cli.Usagef("use 'port add NAME CONTAINER_PORT [--web] [--name LABEL]' or 'port del NAME LABEL|CONTAINER_PORT'"),
			Help: "port add NAME CONTAINER_PORT [--web] [--name LABEL], port del NAME LABEL|CONTAINER_PORT.\n" +
				"port add dev 8888 --name jupyter publishes port 8888 of dev on a host port of its own,\n" +
				"kept for dev's lifetime; port del dev jupyter (or port del dev 8888) withdraws it. Ports the\n" +
				"gateway publishes for every container (such as ssh) stay.\n" +
				"port add dev 8888 --web --name jupyter serves it as a web app instead: over the gateway's\n" +
				"HTTPS, signed in with 'web', for you alone, on no host port; 'ports dev' shows its URL."},
		{Name: "hosts", Summary: "list the cluster's members (--host takes them)", Flags: cli.FormatFlags, Run: runHosts,
			Help: "Each member's state, cluster groups, free memory, CPUs and free GPUs, as placement weighs them."},
		{Name: "gpus", Summary: "list the host's GPUs and who holds them", Flags: cli.FormatFlags, Run: runGPUs,
			Help: "The host's GPUs as --gpu takes them (id, UUID or PCI address), and the containers holding each."},
	}
}

// quotaCmds shows (and, for admins, sets) quotas.
func quotaCmds() []*Command {
	return []*Command{
		{Name: "quota", Args: "[USER]", MaxArgs: 1, AdminArgs: true, Summary: "show your quota and use (admins: anyone's, and set it)",
			Flags: append(QuotaFlags[:len(QuotaFlags):len(QuotaFlags)], cli.FormatFlags...), Run: runQuota,
			Help: "quota shows your limits beside what your containers take now.\n" +
				"Admins: quota USER shows a user's; quota USER --memory 64GiB ... sets the limits given."},
	}
}

func (c *Ctx) containers() containers.API { return c.sh.cs }

// done writes a confirmation when err is nil, and returns err.
func (c *Ctx) done(err error, format string, a ...any) error {
	if err == nil {
		c.say(format, a...)
	}
	return err
}

// completeNames offers the caller's containers for the first argument.
func completeNames(c *Ctx, args []string) []string {
	if len(args) > 0 {
		return nil
	}
	return c.sh.cs.Names(c.Context(), c.User.Name)
}

// parseLease reads a lease given on the command line ("" is none asked).
func parseLease(s string) (time.Duration, error) {
	d, err := containers.ParseLease(s)
	if err != nil {
		return 0, cli.Usage(err)
	}
	return d, nil
}

func runRenew(c *Ctx, args []string) error {
	var d time.Duration
	if len(args) == 2 {
		var err error
		if d, err = parseLease(args[1]); err != nil {
			return err
		}
	}
	until, err := c.containers().Renew(c.Context(), c.User.Name, args[0], d)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Err, "%s's lease now runs out at %s.\n", args[0], until.Format(time.RFC3339))
	return nil
}

func runLease(c *Ctx, args []string) error {
	owner := c.Flags.String("user")
	if owner == "" {
		owner = c.User.Name
	}
	var until time.Time
	if args[1] != "none" {
		d, err := parseLease(args[1])
		if err != nil {
			return err
		}
		until = time.Now().Add(d)
	}
	if err := c.containers().SetLease(c.Context(), owner, args[0], until); err != nil {
		return err
	}
	if until.IsZero() {
		fmt.Fprintf(c.Err, "%s/%s has no lease now.\n", owner, args[0])
	} else {
		fmt.Fprintf(c.Err, "%s/%s's lease now runs out at %s.\n", owner, args[0], until.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	return nil
}

func runMove(c *Ctx, args []string) error {
	host, owner := c.Flags.String("host"), c.Flags.String("user")
	if host == "" {
		return cli.Usagef("--host MEMBER is needed")
	}
	if owner == "" {
		owner = c.User.Name
	}
	return c.done(c.containers().Move(c.Context(), owner, args[0], host), "Moved %s to %s.", args[0], host)
}

func runCreate(c *Ctx, args []string, start bool) error {
	if c.Flags.Int("cpu") < 0 {
		return cli.Usagef("--cpu must be a positive number")
	}
	lease, err := parseLease(c.Flags.String("lease"))
	if err != nil {
		return err
	}
	req := containers.CreateRequest{Name: args[0], Image: c.Flags.String("image"), CPU: c.Flags.Int("cpu"), Lease: lease,
		Memory: c.Flags.Size("memory"), Disk: c.Flags.Size("disk"), GPU: c.Flags.String("gpu"), GPUs: c.Flags.Int("gpus"), Host: c.Flags.String("host"), Start: start,
		Volumes: mountsOf(c), Datasets: c.Flags.List("dataset")}
	p := c.progress()
	req.Progress = p.line // its first line comes once every check has passed
	var ct containers.Container
	if c.Flags.Bool("queue") || c.Flags.Bool("wait") {
		var q containers.QueuedLaunch
		ct, q, err = c.containers().LaunchOrQueue(c.Context(), c.User.Name, req)
		p.done()
		if errors.Is(err, containers.ErrQueued) {
			fmt.Fprintf(c.Err, "Queued %s for %s: %s in line (see 'queue')\n", req.Name, gpuCount(q.GPUs), containers.Ordinal(q.Position))
			if !c.Flags.Bool("wait") {
				return nil
			}
			if ct, err = c.waitInQueue(req.Name); err != nil {
				return err
			}
		}
	} else {
		ct, err = c.containers().Create(c.Context(), c.User.Name, req)
		p.done()
	}
	if err != nil {
		return err
	}
	if ct.Host != "" {
		c.Note(fmt.Sprintf("placed on %s: %s", ct.Host, ct.Placement))
	}
	if !start {
		fmt.Fprintf(c.Err, "Created %s; 'start %s' starts it.\n", ct.Name, ct.Name)
		return nil
	}
	if !c.Flags.Bool("no-wait") {
		ct = c.waitForAddress(ct)
	}
	fmt.Fprintf(c.Err, "Launched %s", ct.Name)
	if ct.IPv4 != "" {
		fmt.Fprintf(c.Err, " (%s)", ct.IPv4)
	}
	fmt.Fprintf(c.Err, ". See 'details %s'.\n", ct.Name)
	if ct.IPv4 != "" {
		for _, p := range ct.Ports {
			if p.ContainerPort == 22 || p.Service == "ssh" {
				fmt.Fprintf(c.Out, "%s\n", c.sh.reach(p))
			}
		}
	}
	return nil
}

// waitForAddress waits until the container has its IPv4 address (its
// port mappings follow it), for at most the shell's LaunchWait.
func (c *Ctx) waitForAddress(ct containers.Container) containers.Container {
	ctx, cancel := context.WithTimeout(c.Context(), c.sh.launchWait)
	defer cancel()
	got, err := c.containers().WaitAddress(ctx, c.User.Name, ct.Name)
	if err != nil {
		got = ct // what create saw
	}
	switch {
	case c.Context().Err() != nil, err != nil && ctx.Err() == nil:
		return got // the session ended, or the container went away or LXD failed
	case got.IPv4 == "":
		fmt.Fprintf(c.Err, "%s has no address yet after %s; 'details %s' shows it once it has.\n", ct.Name, c.sh.launchWait, ct.Name)
	}
	return got
}

func runDelete(c *Ctx, args []string) error {
	name := args[0]
	if !c.Flags.Bool("yes") && c.Interactive {
		// Before prompting: a typo gets "no such container", not a prompt.
		if _, err := c.containers().Get(c.Context(), c.User.Name, name); err != nil {
			return err
		}
	}
	prompt := fmt.Sprintf("This deletes %s and all its data.", name)
	if err := c.confirm("delete", name, prompt, "it deletes all its data", "was deleted"); err != nil {
		return err
	}
	return c.done(c.containers().Delete(c.Context(), c.User.Name, name, c.Flags.Bool("force")), "Deleted %s.", name)
}

func runHosts(c *Ctx, _ []string) error {
	hs, err := c.containers().Hosts(c.Context())
	if err != nil {
		return err
	}
	return c.Emit(hs, func() error {
		if len(hs) == 0 {
			fmt.Fprintln(c.Err, "This gateway runs on a single host; there are no cluster members to choose.")
			return nil
		}
		tw := c.Table()
		fmt.Fprintln(tw, "HOST\tSTATE\tGROUPS\tFREE MEMORY\tCPUS\tGPUS FREE")
		for _, h := range hs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d/%d\n", h.Name, h.Status, dash(strings.Join(h.Groups, ",")),
				units.FormatApprox(h.MemoryFree), h.CPUs, h.GPUsFree, h.GPUs)
		}
		return tw.Flush()
	})
}
