package lxd

import (
	"context"
	"strings"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// OwnerKey is the config key on a volume naming the lxcgate user who owns
// it, so that a gateway that lost its database adopts it back.
const OwnerKey = KeyPrefix + "owner"

// volumeProject is where custom volumes live: users' projects are made
// with features.storage.volumes=false, so theirs resolve here (see the
// containers package's volume naming).
const volumeProject = "default"

// Volume is a custom storage volume as lxcgate sees it.
type Volume struct {
	Name     string
	Size     int64 // bytes; 0 when unset
	Owner    string
	Created  time.Time
	Location string // the cluster member of a member-local pool; "" otherwise
	UsedBy   int    // instances that use it
}

// Disk is a disk device: a custom volume (Pool set) or a host path.
type Disk struct {
	Pool     string
	Source   string // the volume's name, or the host path
	Path     string // in the container
	ReadOnly bool
}

// Device is the disk device's LXD config.
func (d Disk) Device() map[string]string {
	dev := map[string]string{"type": "disk", "source": d.Source, "path": d.Path}
	if d.Pool != "" {
		dev["pool"] = d.Pool
	}
	if d.ReadOnly {
		dev["readonly"] = "true"
	}
	return dev
}

// DiskOf reads a disk device back; ok is false for anything else, the root
// disk included.
func DiskOf(dev map[string]string) (Disk, bool) {
	if dev["type"] != "disk" || dev["path"] == "/" || dev["source"] == "" {
		return Disk{}, false
	}
	ro := dev["readonly"] == "true" || dev["readonly"] == "1" || dev["readonly"] == "yes"
	return Disk{Pool: dev["pool"], Source: dev["source"], Path: dev["path"], ReadOnly: ro}, true
}

func (c *Client) volumes() (lxdclient.InstanceServer, error) { return c.project(volumeProject) }

// CreateVolume makes a filesystem custom volume of size bytes carrying
// its owner, on cluster member target of a member-local pool ("": where
// the request lands, or no member).
func (c *Client) CreateVolume(ctx context.Context, pool, name string, size int64, owner, target string) error {
	defer c.timed("volume-create")()
	srv, err := c.volumes()
	if err != nil {
		return err
	}
	if target != "" {
		srv = srv.UseTarget(target)
	}
	cfg := map[string]string{OwnerKey: owner}
	if size > 0 {
		cfg["size"] = bytesStr(size)
	}
	err = srv.CreateStoragePoolVolume(pool, api.StorageVolumesPost{Name: name, Type: "custom", ContentType: "filesystem",
		StorageVolumePut: api.StorageVolumePut{Config: cfg, Description: "lxcgate volume of " + owner}})
	return c.check("create volume "+name, err)
}

// Volumes lists the pool's custom volumes whose names start with prefix.
func (c *Client) Volumes(ctx context.Context, pool, prefix string) ([]Volume, error) {
	defer c.timed("volume-list")()
	srv, err := c.volumes()
	if err != nil {
		return nil, err
	}
	all, err := srv.GetStoragePoolVolumes(pool)
	if err != nil {
		return nil, c.check("list volumes", err)
	}
	var out []Volume
	for _, v := range all {
		if v.Type != "custom" || !strings.HasPrefix(v.Name, prefix) || strings.Contains(v.Name, "/") {
			continue
		}
		loc := v.Location
		if loc == "none" {
			loc = ""
		}
		out = append(out, Volume{Name: v.Name, Size: parseBytes(v.Config["size"]), Owner: v.Config[OwnerKey],
			Created: v.CreatedAt, Location: loc, UsedBy: len(v.UsedBy)})
	}
	return out, nil
}

// VolumeUsed is what the driver says a volume uses; -1 where it does not.
func (c *Client) VolumeUsed(ctx context.Context, pool, name string) (int64, error) {
	defer c.timed("volume-state")()
	srv, err := c.volumes()
	if err != nil {
		return -1, err
	}
	st, err := srv.GetStoragePoolVolumeState(pool, "custom", name)
	if err != nil {
		return -1, c.check("state of volume "+name, err)
	}
	if st == nil || st.Usage == nil || st.Usage.Used == 0 {
		return -1, nil
	}
	return int64(st.Usage.Used), nil
}

// ResizeVolume sets a volume's size.
func (c *Client) ResizeVolume(ctx context.Context, pool, name string, size int64) error {
	defer c.timed("volume-resize")()
	return c.updateVolume(pool, name, func(put *api.StorageVolumePut) { put.Config["size"] = bytesStr(size) })
}

// SetVolumeOwner records a volume's owner and keeps of its config only
// its size and its driver's block settings: an imported one carries what
// its tarball said (another owner, a snapshot schedule, security.*), and
// only the gateway's word counts.
func (c *Client) SetVolumeOwner(ctx context.Context, pool, name, owner string) error {
	defer c.timed("volume-configure")()
	return c.updateVolume(pool, name, func(put *api.StorageVolumePut) {
		for k := range put.Config {
			if k != "size" && !strings.HasPrefix(k, "block.") {
				delete(put.Config, k)
			}
		}
		put.Config[OwnerKey] = owner
	})
}

func (c *Client) updateVolume(pool, name string, change func(*api.StorageVolumePut)) error {
	srv, err := c.volumes()
	if err != nil {
		return err
	}
	v, etag, err := srv.GetStoragePoolVolume(pool, "custom", name)
	if err != nil {
		return c.check("volume "+name, err)
	}
	put := v.Writable()
	if put.Config == nil {
		put.Config = map[string]string{}
	}
	change(&put)
	return c.check("configure volume "+name, srv.UpdateStoragePoolVolume(pool, "custom", name, put, etag))
}

// DeleteVolume deletes a custom volume and its snapshots.
func (c *Client) DeleteVolume(ctx context.Context, pool, name string) error {
	defer c.timed("volume-delete")()
	srv, err := c.volumes()
	if err != nil {
		return err
	}
	return c.check("delete volume "+name, srv.DeleteStoragePoolVolume(pool, "custom", name))
}

// Disks reads an instance's own disk devices (but the root disk) and its
// cluster member, without its state: cheaper than Get.
func (c *Client) Disks(ctx context.Context, project, name string) (map[string]Disk, string, error) {
	defer c.timed("get")()
	srv, err := c.project(project)
	if err != nil {
		return nil, "", err
	}
	in, _, err := srv.GetInstance(name)
	if err != nil {
		return nil, "", c.check("get "+name, err)
	}
	out := map[string]Disk{}
	for dev, d := range in.Devices {
		if disk, ok := DiskOf(d); ok {
			out[dev] = disk
		}
	}
	loc := in.Location
	if loc == "none" {
		loc = ""
	}
	return out, loc, nil
}

// SetDisk adds (or replaces) a disk device of an instance, live where it
// runs.
func (c *Client) SetDisk(ctx context.Context, project, name, device string, d Disk) error {
	defer c.timed("configure")()
	return c.editDevices(ctx, project, name, func(devs map[string]map[string]string) bool {
		devs[device] = d.Device()
		return true
	})
}

// RemoveDisk removes an instance's own device; one that is not there is
// no error.
func (c *Client) RemoveDisk(ctx context.Context, project, name, device string) error {
	defer c.timed("configure")()
	return c.editDevices(ctx, project, name, func(devs map[string]map[string]string) bool {
		if _, ok := devs[device]; !ok {
			return false
		}
		delete(devs, device)
		return true
	})
}

func (c *Client) editDevices(ctx context.Context, project, name string, edit func(map[string]map[string]string) bool) error {
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	in, etag, err := srv.GetInstance(name)
	if err != nil {
		return c.check("configure "+name, err)
	}
	put := in.Writable()
	if put.Devices == nil {
		put.Devices = map[string]map[string]string{}
	}
	if !edit(put.Devices) {
		return nil
	}
	op, err := srv.UpdateInstance(name, put, etag)
	if err != nil {
		return c.check("configure "+name, err)
	}
	return c.check("configure "+name, wait(ctx, op, nil))
}
