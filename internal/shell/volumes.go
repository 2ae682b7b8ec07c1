package shell

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/units"
)

// volumeFlags are launch's and create's ways to attach from the start.
var volumeFlags = []cli.Flag{
	{Name: "volume", Kind: cli.List, Arg: "VOL[:PATH]", Help: "attach your volume VOL (at PATH, default /mnt/VOL); repeatable"},
	{Name: "dataset", Kind: cli.List, Arg: "DS", Help: "attach the lab's dataset DS ('datasets' lists them); repeatable"},
}

// volumeCmds are the commands on volumes and datasets.
func volumeCmds() []*Command {
	vol, volCt := completeVolumes, completeVolumeThenContainer
	return []*Command{
		{Name: "volume", Args: "VERB [ARGS]", MinArgs: 1, MaxArgs: 4,
			Summary: "manage your volumes, storage that outlives containers (create, list, attach, ...)",
			Subs: []*Command{
				{Name: "create", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runVolumeCreate,
					Flags: []cli.Flag{{Name: "size", Kind: cli.Size, Help: "its size, e.g. 50GiB (default: the gateway's)"},
						{Name: "host", Kind: cli.String, Arg: "MEMBER", Help: "the cluster member to make it on (default: the gateway chooses)"}}},
				{Name: "list", Run: runVolumeList, Flags: cli.FormatFlags},
				{Name: "attach", Args: "NAME CONTAINER [PATH]", MinArgs: 2, MaxArgs: 3, Run: runVolumeAttach, Complete: volCt,
					Flags: []cli.Flag{{Name: "readonly", Help: "attach it read-only"}}},
				{Name: "detach", Args: "NAME CONTAINER", MinArgs: 2, MaxArgs: 2, Run: runVolumeDetach, Complete: volCt},
				{Name: "resize", Args: "NAME SIZE", MinArgs: 2, MaxArgs: 2, Run: runVolumeResize, Complete: vol},
				{Name: "delete", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runVolumeDelete, Complete: vol, Flags: []cli.Flag{yesFlag}},
				{Name: "snapshot", Args: "NAME [SNAP]", MinArgs: 1, MaxArgs: 2, Run: runVolumeSnapshot, Complete: vol,
					Flags: []cli.Flag{{Name: "keep", Help: "pin it: pruning never deletes it"}}},
				{Name: "snapshots", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runVolumeSnapshots, Complete: vol},
				{Name: "restore", Args: "NAME SNAP", MinArgs: 2, MaxArgs: 2, Run: runVolumeRestore, Complete: vol},
				{Name: "export", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runVolumeExport, Complete: vol},
				{Name: "import", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runVolumeImport},
			},
			Help: "A volume is storage of yours that outlives containers: attach it to any of your containers,\n" +
				"delete the container, and the volume with its data stays for the next one. Its size counts\n" +
				"towards your disk quota. attach is live on a running container (PATH default /mnt/NAME);\n" +
				"delete is refused while it is attached and asks you to type the name (--yes in scripts).\n" +
				"resize only grows. snapshot, snapshots and restore follow the container snapshots' rules.\n" +
				"volume export NAME > data.tar.gz streams a tarball over SSH; volume import NAME < data.tar.gz\n" +
				"makes a new volume from one."},
		{Name: "volumes", Summary: "list your volumes (as 'volume list')", Flags: cli.FormatFlags, Run: runVolumeList,
			Help: "Each volume's name, size, use where the storage says, where it is attached, and when it was made."},
		{Name: "datasets", Summary: "list the lab's datasets you may attach", Flags: cli.FormatFlags, Run: runDatasets,
			Help: "Each dataset's name, its path in a container, whether it is read-only, whether every new\n" +
				"container gets it, and who may use it. launch and create take --dataset NAME."},
	}
}

func completeVolumes(c *Ctx, args []string) []string {
	if len(args) > 0 {
		return nil
	}
	return c.sh.cs.VolumeNames(c.Context(), c.User.Name)
}

func completeVolumeThenContainer(c *Ctx, args []string) []string {
	switch len(args) {
	case 0:
		return completeVolumes(c, args)
	case 1:
		return completeNames(c, nil)
	}
	return nil
}

func runVolumeCreate(c *Ctx, args []string) error {
	if c.Flags.Size("size") < 0 {
		return cli.Usagef("--size must be positive")
	}
	v, err := c.containers().CreateVolumeOn(c.Context(), c.User.Name, args[0], c.Flags.String("host"), c.Flags.Size("size"))
	if err != nil {
		return err
	}
	on := ""
	if v.Host != "" {
		on = " on " + v.Host
	}
	fmt.Fprintf(c.Err, "Created volume %s (%s)%s; 'volume attach %s CONTAINER' attaches it.\n", v.Name, units.FormatSize(v.Size), on, v.Name)
	return nil
}

func runVolumeList(c *Ctx, _ []string) error {
	list, err := c.containers().ListVolumes(c.Context(), c.User.Name)
	if err != nil {
		return err
	}
	for i := range list {
		list[i].Created = list[i].Created.UTC()
	}
	return c.Emit(list, func() error {
		if len(list) == 0 {
			fmt.Fprintln(c.Err, "You have no volumes; 'volume create NAME' makes one.")
			return nil
		}
		tw := c.Table()
		fmt.Fprintln(tw, "NAME\tSIZE\tUSED\tATTACHED TO\tCREATED")
		for _, v := range list {
			used := "-"
			if v.Used >= 0 {
				used = units.FormatSize(v.Used)
			}
			var at []string
			for _, a := range v.Attached {
				s := a.Container + ":" + a.Path
				if a.ReadOnly {
					s += " (ro)"
				}
				at = append(at, s)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, units.FormatSize(v.Size), used, dash(strings.Join(at, ", ")), cli.TableTime(v.Created))
		}
		return tw.Flush()
	})
}

func runVolumeAttach(c *Ctx, args []string) error {
	path := ""
	if len(args) == 3 {
		path = args[2]
	}
	a, err := c.containers().AttachVolume(c.Context(), c.User.Name, args[0], args[1], path, c.Flags.Bool("readonly"))
	if err != nil {
		return err
	}
	mode := ""
	if a.ReadOnly {
		mode = " read-only"
	}
	c.say("Attached volume %s to %s at %s%s.", args[0], a.Container, a.Path, mode)
	return nil
}

func runVolumeDetach(c *Ctx, args []string) error {
	return c.done(c.containers().DetachVolume(c.Context(), c.User.Name, args[0], args[1]), "Detached volume %s from %s.", args[0], args[1])
}

func runVolumeResize(c *Ctx, args []string) error {
	size, err := units.ParseSize(args[1])
	if err != nil || size <= 0 {
		return cli.Usagef("size %q: write it like 50GiB", args[1])
	}
	return c.done(c.containers().ResizeVolume(c.Context(), c.User.Name, args[0], size), "Volume %s is now %s.", args[0], units.FormatSize(size))
}

func runVolumeDelete(c *Ctx, args []string) error {
	name := args[0]
	if !c.Flags.Bool("yes") && c.Interactive {
		// Before prompting: a typo gets "no such volume", not a prompt.
		if _, err := c.containers().GetVolume(c.Context(), c.User.Name, name); err != nil {
			return err
		}
	}
	prompt := fmt.Sprintf("This deletes volume %s, its snapshots and all its data.", name)
	if err := c.confirm("volume delete", name, prompt, "it deletes all its data", "was deleted"); err != nil {
		return err
	}
	return c.done(c.containers().DeleteVolume(c.Context(), c.User.Name, name), "Deleted volume %s.", name)
}

func runVolumeSnapshot(c *Ctx, args []string) error {
	want := ""
	if len(args) == 2 {
		want = args[1]
	}
	keep := c.Flags.Bool("keep")
	snap, pruned, err := c.containers().SnapshotVolume(c.Context(), c.User.Name, args[0], want, keep)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Out, snap)
	pin := ""
	if keep {
		pin = " (pinned)"
	}
	fmt.Fprintf(c.Err, "Took snapshot %s of volume %s%s.\n", snap, args[0], pin)
	if len(pruned) > 0 {
		fmt.Fprintf(c.Err, "Pruned the oldest: %s.\n", strings.Join(pruned, ", "))
	}
	return nil
}

func runVolumeSnapshots(c *Ctx, args []string) error {
	list, err := c.containers().VolumeSnapshots(c.Context(), c.User.Name, args[0])
	if err != nil {
		return err
	}
	return c.Emit(list, func() error {
		if len(list) == 0 {
			fmt.Fprintf(c.Err, "Volume %s has no snapshots; 'volume snapshot %s' takes one.\n", args[0], args[0])
			return nil
		}
		tw := c.Table()
		fmt.Fprintln(tw, "NAME\tCREATED\tPINNED")
		for _, s := range list {
			pinned := "-"
			if s.Pinned {
				pinned = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, cli.TableTime(s.Created.UTC()), pinned)
		}
		return tw.Flush()
	})
}

func runVolumeRestore(c *Ctx, args []string) error {
	name, snap := args[0], args[1]
	prompt := fmt.Sprintf("Everything written to volume %s since %s will be lost.", name, snap)
	if err := c.confirm("volume restore", name, prompt, "what was written since "+snap+" is lost", "changed"); err != nil {
		return err
	}
	return c.done(c.containers().RestoreVolume(c.Context(), c.User.Name, name, snap), "Restored volume %s to %s.", name, snap)
}

// errTerminalStream refuses a binary stream on a terminal, which would
// mangle it.
var errTerminalStream = errors.New("this streams a tarball: run it without a terminal, e.g. 'ssh GATEWAY volume export NAME > data.tar.gz'")

func runVolumeExport(c *Ctx, args []string) error {
	if c.Interactive {
		return errTerminalStream
	}
	n, err := c.containers().ExportVolume(c.Context(), c.User.Name, args[0], c.Out)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Err, "Exported volume %s (%s).\n", args[0], units.FormatSize(n))
	return nil
}

func runVolumeImport(c *Ctx, args []string) error {
	in, ok := c.stdin()
	if !ok {
		return errors.New("volume import reads a tarball from stdin: 'ssh GATEWAY volume import NAME < data.tar.gz'")
	}
	v, err := c.containers().ImportVolume(c.Context(), c.User.Name, args[0], in)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Err, "Imported volume %s (%s).\n", v.Name, units.FormatSize(v.Size))
	return nil
}

// stdin is the raw standard input of a session without a terminal.
func (c *Ctx) stdin() (io.Reader, bool) {
	p, ok := c.s.con.(*pipeConsole)
	if !ok || c.Interactive {
		return nil, false
	}
	return p.r, true
}

func runDatasets(c *Ctx, _ []string) error {
	list := c.containers().Datasets(c.User.Name)
	return c.Emit(list, func() error {
		if len(list) == 0 {
			fmt.Fprintln(c.Err, "The lab offers no datasets to you.")
			return nil
		}
		tw := c.Table()
		fmt.Fprintln(tw, "NAME\tPATH\tMODE\tDEFAULT\tUSERS")
		for _, d := range list {
			mode, def, who := "read-only", "-", "everyone"
			if d.Writable {
				mode = "read-write"
			}
			if d.Default {
				def = "yes"
			}
			if len(d.Users) > 0 {
				who = strings.Join(d.Users, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Path, mode, def, who)
		}
		return tw.Flush()
	})
}

// mountsOf reads launch's and create's --volume VOL[:PATH] flags.
func mountsOf(c *Ctx) []containers.VolumeMount {
	var out []containers.VolumeMount
	for _, v := range c.Flags.List("volume") {
		name, path, _ := strings.Cut(v, ":")
		out = append(out, containers.VolumeMount{Name: name, Path: path})
	}
	return out
}
