package shell

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Snapshots is what the snapshot commands need; containers.Service
// satisfies it.
type Snapshots interface {
	TakeSnapshot(ctx context.Context, user, name, snap string, keep bool) (string, []string, error)
	Snapshots(ctx context.Context, user, name string) ([]containers.SnapshotInfo, error)
	DeleteSnapshot(ctx context.Context, user, name, snap string) error
	Restore(ctx context.Context, user, name, snap string) error
	Clone(ctx context.Context, user, name, snap, newName string) (containers.Container, error)
	AutoSnap(ctx context.Context, user, name, every, expiry string) error
}

// AddSnapshots adds the snapshot commands.
func (sh *Shell) AddSnapshots(sn Snapshots) {
	sh.snaps = sn
	names := func(c *Ctx) []string { return sh.cs.Names(c.ctx, c.User.Name) }
	sh.insertAfter("details",
		&Command{Name: "snapshot", Args: "[delete] NAME [SNAPSHOT] [--keep]",
			Summary: "take a snapshot (or delete one)", Run: runSnapshot, Complete: names,
			Help: "snapshot NAME [SNAPSHOT] [--keep] takes a copy-on-write snapshot of a running or stopped\n" +
				"container, named SNAPSHOT or by the time; snapshot delete NAME SNAPSHOT deletes one.\n" +
				"--keep pins it: pruning (which keeps the newest few unpinned ones) never deletes it."},
		&Command{Name: "snapshots", Args: "NAME [--json]", Summary: "list a container's snapshots", Run: runSnapshots, Complete: names},
		&Command{Name: "restore", Args: "NAME SNAPSHOT [--yes]", Summary: "roll a container back to a snapshot", Run: runRestore, Complete: names,
			Help: "Stops the container if it runs, restores the snapshot, and starts it again. Everything written\n" +
				"since the snapshot is lost; its host ports stay the same. Asks you to type the name; --yes in scripts."},
		&Command{Name: "clone", Args: "NAME SNAPSHOT NEWNAME", Summary: "make a new container from a snapshot", Run: runClone, Complete: names},
		&Command{Name: "autosnap", Args: "NAME daily|hourly|off [--expiry 7d]", Summary: "schedule snapshots", Run: runAutosnap, Complete: names},
	)
}

func runSnapshot(c *Ctx, args []string) error {
	fs := c.Flags("snapshot")
	keep := fs.Bool("keep", false, "")
	pos, err := c.Parse(fs, args, 1, 3)
	if err != nil {
		return err
	}
	sn := c.s.sh.snaps
	if pos[0] == "delete" && len(pos) == 3 {
		if err := sn.DeleteSnapshot(c.ctx, c.User.Name, pos[1], pos[2]); err != nil {
			return err
		}
		fmt.Fprintf(c.Err, "Deleted snapshot %s of %s.\n", pos[2], pos[1])
		return nil
	}
	if len(pos) > 2 {
		return Usagef("too many arguments")
	}
	want := ""
	if len(pos) == 2 {
		want = pos[1]
	}
	name, pruned, err := sn.TakeSnapshot(c.ctx, c.User.Name, pos[0], want, *keep)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Out, name)
	pin := ""
	if *keep {
		pin = " (pinned)"
	}
	fmt.Fprintf(c.Err, "Took snapshot %s of %s%s.\n", name, pos[0], pin)
	if len(pruned) > 0 {
		fmt.Fprintf(c.Err, "Pruned the oldest: %s.\n", strings.Join(pruned, ", "))
	}
	return nil
}

func runSnapshots(c *Ctx, args []string) error {
	fs := c.Flags("snapshots")
	asJSON := fs.Bool("json", false, "")
	pos, err := c.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	list, err := c.s.sh.snaps.Snapshots(c.ctx, c.User.Name, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return c.JSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(c.Err, "%s has no snapshots; 'snapshot %s' takes one.\n", pos[0], pos[0])
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Created.UTC().Format(time.DateTime), pinned, size)
	}
	return tw.Flush()
}

func runRestore(c *Ctx, args []string) error {
	fs := c.Flags("restore")
	yes := fs.Bool("yes", false, "")
	pos, err := c.Parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	name, snap := pos[0], pos[1]
	if !*yes {
		if !c.Interactive {
			return fmt.Errorf("restore %s: add --yes to confirm (what was written since %s is lost)", name, snap)
		}
		typed, err := c.ReadLine(fmt.Sprintf("Everything written to %s since %s will be lost. Type its name to confirm: ", name, snap))
		if err != nil {
			return fmt.Errorf("restore %s: %w", name, err)
		}
		if typed != name {
			return fmt.Errorf("restore %s: the name did not match; nothing changed", name)
		}
	}
	if err := c.s.sh.snaps.Restore(c.ctx, c.User.Name, name, snap); err != nil {
		return err
	}
	fmt.Fprintf(c.Err, "Restored %s to %s.\n", name, snap)
	return nil
}

func runClone(c *Ctx, args []string) error {
	pos, err := c.Parse(c.Flags("clone"), args, 3, 3)
	if err != nil {
		return err
	}
	if err := containers.ValidName(pos[2]); err != nil {
		return err
	}
	ct, err := c.s.sh.snaps.Clone(c.ctx, c.User.Name, pos[0], pos[1], pos[2])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Err, "Cloned %s from %s/%s; 'start %s' starts it.\n", ct.Name, pos[0], pos[1], ct.Name)
	return nil
}

func runAutosnap(c *Ctx, args []string) error {
	fs := c.Flags("autosnap")
	expiry := fs.String("expiry", "7d", "")
	pos, err := c.Parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if err := c.s.sh.snaps.AutoSnap(c.ctx, c.User.Name, pos[0], pos[1], *expiry); err != nil {
		return err
	}
	if pos[1] == "off" {
		fmt.Fprintf(c.Err, "Scheduled snapshots of %s are off.\n", pos[0])
	} else {
		fmt.Fprintf(c.Err, "%s is snapshotted %s; each snapshot expires after %s.\n", pos[0], pos[1], *expiry)
	}
	return nil
}
