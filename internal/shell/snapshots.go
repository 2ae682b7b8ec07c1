package shell

import (
	"fmt"
	"strings"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/units"
)

// snapshotCmds are the snapshot commands.
func snapshotCmds() []*Command {
	name := completeNames
	return []*Command{
		{Name: "snapshot", Args: "[delete] NAME [SNAPSHOT]", MinArgs: 1, MaxArgs: 3,
			Summary: "take a snapshot (or delete one)", Run: runSnapshot, Complete: name,
			Subs:  []*Command{{Name: "delete", Args: "NAME SNAPSHOT", MinArgs: 2, MaxArgs: 2, Run: runSnapshotDelete, Complete: name}},
			Flags: []cli.Flag{{Name: "keep", Help: "pin it: pruning never deletes it"}},
			Help: "snapshot NAME [SNAPSHOT] [--keep] takes a copy-on-write snapshot of a running or stopped\n" +
				"container, named SNAPSHOT or by the time; snapshot delete NAME SNAPSHOT deletes one.\n" +
				"--keep pins it: pruning (which keeps the newest few unpinned ones) never deletes it."},
		{Name: "snapshots", Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "list a container's snapshots",
			Flags: cli.FormatFlags, Run: runSnapshots, Complete: name,
			Help: "Each snapshot's name, when it was taken (UTC), whether it is pinned, and its size where the storage says."},
		{Name: "restore", Args: "NAME SNAPSHOT", MinArgs: 2, MaxArgs: 2, Summary: "roll a container back to a snapshot",
			Flags: []cli.Flag{yesFlag}, Run: runRestore, Complete: name,
			Help: "Stops the container if it runs, restores the snapshot, and starts it again. Everything written\n" +
				"since the snapshot is lost; its host ports stay the same. Asks you to type the name; --yes in scripts."},
		{Name: "clone", Args: "NAME SNAPSHOT NEWNAME", MinArgs: 3, MaxArgs: 3, Summary: "make a new container from a snapshot",
			Run: runClone, Complete: name, Flags: []cli.Flag{hostFlag},
			Help: "Makes NEWNAME, stopped, from NAME's SNAPSHOT, with host ports of its own; it counts against your quota."},
		{Name: "autosnap", Args: "NAME daily|hourly|off", MinArgs: 2, MaxArgs: 2, Summary: "schedule snapshots",
			Flags: []cli.Flag{{Name: "expiry", Kind: cli.String, Arg: "AGE", Default: "7d", Help: "how long each scheduled snapshot is kept"}},
			Run:   runAutosnap, Complete: completeAutosnap,
			Help: "Has LXD take a snapshot daily or hourly (off stops it); each expires after --expiry (1d, 12h, 2w)."},
	}
}

func completeAutosnap(c *Ctx, args []string) []string {
	if len(args) == 1 {
		return []string{"daily", "hourly", "off"}
	}
	return completeNames(c, args)
}

// runSnapshotDelete deletes one: snapshot delete NAME SNAPSHOT. With other
// counts, "delete" is a container's name (see Command.Subs).
func runSnapshotDelete(c *Ctx, args []string) error {
	return c.done(c.sh.cs.DeleteSnapshot(c.Context(), c.User.Name, args[0], args[1]), "Deleted snapshot %s of %s.", args[1], args[0])
}

func runSnapshot(c *Ctx, args []string) error {
	sn := c.sh.cs
	if len(args) > 2 {
		return cli.Usagef("too many arguments")
	}
	want := ""
	if len(args) == 2 {
		want = args[1]
	}
	keep := c.Flags.Bool("keep")
	name, pruned, err := sn.TakeSnapshot(c.Context(), c.User.Name, args[0], want, keep)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Out, name)
	pin := ""
	if keep {
		pin = " (pinned)"
	}
	fmt.Fprintf(c.Err, "Took snapshot %s of %s%s.\n", name, args[0], pin)
	if len(pruned) > 0 {
		fmt.Fprintf(c.Err, "Pruned the oldest: %s.\n", strings.Join(pruned, ", "))
	}
	return nil
}

func runSnapshots(c *Ctx, args []string) error {
	list, err := c.sh.cs.Snapshots(c.Context(), c.User.Name, args[0])
	if err != nil {
		return err
	}
	for i := range list {
		list[i].Created = list[i].Created.UTC()
	}
	return c.Emit(list, func() error {
		if len(list) == 0 {
			fmt.Fprintf(c.Err, "%s has no snapshots; 'snapshot %s' takes one.\n", args[0], args[0])
			return nil
		}
		tw := c.Table()
		fmt.Fprintln(tw, "NAME\tCREATED\tPINNED\tSIZE")
		for _, s := range list {
			pinned, size := "-", "-"
			if s.Pinned {
				pinned = "yes"
			}
			if s.Size >= 0 {
				size = units.FormatSize(s.Size)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, cli.TableTime(s.Created), pinned, size)
		}
		return tw.Flush()
	})
}

func runRestore(c *Ctx, args []string) error {
	name, snap := args[0], args[1]
	prompt := fmt.Sprintf("Everything written to %s since %s will be lost.", name, snap)
	if err := c.confirm("restore", name, prompt, "what was written since "+snap+" is lost", "changed"); err != nil {
		return err
	}
	return c.done(c.sh.cs.Restore(c.Context(), c.User.Name, name, snap), "Restored %s to %s.", name, snap)
}

func runClone(c *Ctx, args []string) error {
	if err := containers.ValidName(args[2]); err != nil {
		return err
	}
	ct, err := c.sh.cs.Clone(c.Context(), c.User.Name, args[0], args[1], args[2], c.Flags.String("host"))
	if err != nil {
		return err
	}
	if ct.Host != "" {
		c.Note(fmt.Sprintf("placed on %s: %s", ct.Host, ct.Placement))
		fmt.Fprintf(c.Err, "Placed on %s: %s.\n", ct.Host, ct.Placement)
	}
	fmt.Fprintf(c.Err, "Cloned %s from %s/%s; 'start %s' starts it.\n", ct.Name, args[0], args[1], ct.Name)
	return nil
}

func runAutosnap(c *Ctx, args []string) error {
	expiry := c.Flags.String("expiry")
	if err := c.sh.cs.AutoSnap(c.Context(), c.User.Name, args[0], args[1], expiry); err != nil {
		return err
	}
	if args[1] == "off" {
		fmt.Fprintf(c.Err, "Scheduled snapshots of %s are off.\n", args[0])
	} else {
		fmt.Fprintf(c.Err, "%s is snapshotted %s; each snapshot expires after %s.\n", args[0], args[1], expiry)
	}
	return nil
}
