package lxd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// Snapshot is one snapshot of a container.
type Snapshot struct {
	Name    string
	Created time.Time
	Size    int64 // -1 where the storage driver does not say
}

// Snapshot takes a (stateless) snapshot of a running or stopped container.
func (c *Client) Snapshot(ctx context.Context, project, name, snap string) error {
	defer c.timed("snapshot")()
	release, err := c.admit.acquire(ctx, c.memberOf(project, name), project)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", name, err)
	}
	defer release()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	op, err := srv.CreateInstanceSnapshot(name, api.InstanceSnapshotsPost{Name: snap})
	if err != nil {
		return c.check("snapshot "+name, err)
	}
	return c.check("snapshot "+name, wait(ctx, op, nil))
}

// Snapshots lists a container's snapshots, oldest first.
func (c *Client) Snapshots(ctx context.Context, project, name string) ([]Snapshot, error) {
	defer c.timed("snapshots")()
	srv, err := c.project(project)
	if err != nil {
		return nil, err
	}
	snaps, err := srv.GetInstanceSnapshots(name)
	if err != nil {
		return nil, c.check("snapshots of "+name, err)
	}
	out := make([]Snapshot, 0, len(snaps))
	for _, s := range snaps {
		_, short, _ := strings.Cut(s.Name, "/")
		if short == "" {
			short = s.Name
		}
		size := s.Size
		if size == 0 {
			size = -1
		}
		out = append(out, Snapshot{Name: short, Created: s.CreatedAt, Size: size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// DeleteSnapshot deletes one snapshot.
func (c *Client) DeleteSnapshot(ctx context.Context, project, name, snap string) error {
	defer c.timed("delete-snapshot")()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	op, err := srv.DeleteInstanceSnapshot(name, snap)
	if err != nil {
		return c.check("delete snapshot "+snap, err)
	}
	return c.check("delete snapshot "+snap, wait(ctx, op, nil))
}

// Restore rolls a stopped container back to a snapshot.
func (c *Client) Restore(ctx context.Context, project, name, snap string) error {
	defer c.timed("restore")()
	release, err := c.admit.acquire(ctx, c.memberOf(project, name), project)
	if err != nil {
		return fmt.Errorf("restore %s: %w", name, err)
	}
	defer release()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	in, etag, err := srv.GetInstance(name)
	if err != nil {
		return c.check("restore "+name, err)
	}
	put := in.Writable()
	put.Restore = snap
	op, err := srv.UpdateInstance(name, put, etag)
	if err != nil {
		return c.check("restore "+name, err)
	}
	return c.check("restore "+name, wait(ctx, op, nil))
}
