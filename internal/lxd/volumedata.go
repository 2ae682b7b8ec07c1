package lxd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// SnapshotVolume takes a snapshot of a custom volume.
func (c *Client) SnapshotVolume(ctx context.Context, pool, name, snap string) error {
	defer c.timed("volume-snapshot")()
	srv, err := c.volumes()
	if err != nil {
		return err
	}
	op, err := srv.CreateStoragePoolVolumeSnapshot(pool, "custom", name, api.StorageVolumeSnapshotsPost{Name: snap})
	if err != nil {
		return c.check("snapshot volume "+name, err)
	}
	return c.check("snapshot volume "+name, wait(ctx, op, nil))
}

// VolumeSnapshots lists a custom volume's snapshots, oldest first.
func (c *Client) VolumeSnapshots(ctx context.Context, pool, name string) ([]Snapshot, error) {
	defer c.timed("volume-snapshots")()
	srv, err := c.volumes()
	if err != nil {
		return nil, err
	}
	snaps, err := srv.GetStoragePoolVolumeSnapshots(pool, "custom", name)
	if err != nil {
		return nil, c.check("snapshots of volume "+name, err)
	}
	out := make([]Snapshot, 0, len(snaps))
	for _, s := range snaps {
		short := s.Name
		if _, after, ok := strings.Cut(s.Name, "/"); ok {
			short = after
		}
		out = append(out, Snapshot{Name: short, Created: s.CreatedAt, Size: -1})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// DeleteVolumeSnapshot deletes one snapshot of a custom volume.
func (c *Client) DeleteVolumeSnapshot(ctx context.Context, pool, name, snap string) error {
	defer c.timed("volume-delete-snapshot")()
	srv, err := c.volumes()
	if err != nil {
		return err
	}
	op, err := srv.DeleteStoragePoolVolumeSnapshot(pool, "custom", name, snap)
	if err != nil {
		return c.check("delete snapshot "+snap, err)
	}
	return c.check("delete snapshot "+snap, wait(ctx, op, nil))
}

// RestoreVolume rolls a custom volume back to a snapshot.
func (c *Client) RestoreVolume(ctx context.Context, pool, name, snap string) error {
	defer c.timed("volume-restore")()
	return c.updateVolume(pool, name, func(put *api.StorageVolumePut) { put.Restore = snap })
}

// ExportVolume writes a gzip'd LXD backup tarball of a custom volume (no
// snapshots) to w, as 'lxc storage volume export' makes. LXD writes the
// backup on the pool first; it is streamed from there and deleted.
func (c *Client) ExportVolume(ctx context.Context, pool, name string, w io.Writer) (int64, error) {
	defer c.timed("volume-export")()
	srv, err := c.volumes()
	if err != nil {
		return 0, err
	}
	backup := fmt.Sprintf("lxcgate-export-%d", time.Now().UnixNano())
	op, err := srv.CreateStoragePoolVolumeBackup(pool, name, api.StoragePoolVolumeBackupsPost{Name: backup,
		ExpiresAt: time.Now().Add(24 * time.Hour), VolumeOnly: true, CompressionAlgorithm: "gzip"})
	if err != nil {
		return 0, c.check("export volume "+name, err)
	}
	if err := wait(ctx, op, nil); err != nil {
		return 0, c.check("export volume "+name, err)
	}
	defer func() {
		if op, err := srv.DeleteStoragePoolVolumeBackup(pool, name, backup); err == nil {
			_ = op.WaitContext(context.WithoutCancel(ctx))
		}
	}()
	resp, err := srv.GetStoragePoolVolumeBackupFile(pool, name, backup, &lxdclient.BackupFileRequest{BackupFile: streamOnly{w}})
	if err != nil {
		return 0, c.check("export volume "+name, err)
	}
	return resp.Size, nil
}

// streamOnly lets a plain stream stand where the client asks for a
// seekable file: the download only writes, in order.
type streamOnly struct{ io.Writer }

func (streamOnly) Seek(int64, int) (int64, error) {
	return 0, errors.New("export: the stream cannot seek")
}

// ImportVolume makes custom volume name from a backup tarball read from r.
// The request body is r itself, so memory stays bounded.
func (c *Client) ImportVolume(ctx context.Context, pool, name string, r io.Reader) error {
	defer c.timed("volume-import")()
	srv, err := c.volumes()
	if err != nil {
		return err
	}
	op, err := srv.CreateStoragePoolVolumeFromBackup(pool, lxdclient.StoragePoolVolumeBackupArgs{BackupFile: r, Name: name})
	if err != nil {
		return c.check("import volume "+name, err)
	}
	return c.check("import volume "+name, wait(ctx, op, nil))
}
