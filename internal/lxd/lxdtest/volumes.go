package lxdtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// volume is a custom volume in the fake: its record, its data (a stand-in
// for the files in it) and its snapshots' data.
type volume struct {
	v     lxd.Volume
	data  []byte
	snaps []lxd.Snapshot
	saved map[string][]byte
}

// volumeKey keys Vols.
func (f *Fake) volumeKey(pool, name string) string { return pool + "/" + name }

// CreateVolume makes a custom volume; ErrExists when the name is taken.
// In a cluster it lives on target, or where the request landed (the
// first member).
func (f *Fake) CreateVolume(_ context.Context, pool, name string, size int64, owner, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return err
	}
	if f.FailVolumes != nil {
		return f.FailVolumes
	}
	v := lxd.Volume{Name: name, Size: size, Owner: owner, Created: time.Now().UTC()}
	if len(f.Cluster) > 0 {
		v.Location = f.Cluster[0].Name // a member-local pool: where the request landed
		if target != "" {
			v.Location = target
		}
	}
	return f.addVolume(pool, v)
}

// SetVolumeMember moves a volume to a cluster member, as a member-local
// pool would have it.
func (f *Fake) SetVolumeMember(pool, name, member string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return err
	}
	v.v.Location = member
	return nil
}

func (f *Fake) addVolume(pool string, v lxd.Volume) error {
	if f.Vols == nil {
		f.Vols = map[string]*volume{}
	}
	k := f.volumeKey(pool, v.Name)
	if _, ok := f.Vols[k]; ok {
		return fmt.Errorf("create volume %s: %w", v.Name, lxd.ErrExists)
	}
	f.Vols[k] = &volume{v: v, saved: map[string][]byte{}}
	return nil
}

func (f *Fake) volume(pool, name string) (*volume, error) {
	if err := f.up(); err != nil {
		return nil, err
	}
	v, ok := f.Vols[f.volumeKey(pool, name)]
	if !ok {
		return nil, fmt.Errorf("volume %s: %w", name, lxd.ErrNotFound)
	}
	return v, nil
}

// usedBy counts the instances with a disk device of the volume, as LXD's
// used_by does.
func (f *Fake) usedBy(pool, name string) int {
	n := 0
	for _, d := range f.devs {
		for _, dev := range d.own {
			if disk, ok := lxd.DiskOf(dev); ok && disk.Pool == pool && disk.Source == name {
				n++
				break
			}
		}
	}
	return n
}

// Volumes lists the pool's volumes whose names start with prefix.
func (f *Fake) Volumes(_ context.Context, pool, prefix string) ([]lxd.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return nil, err
	}
	var out []lxd.Volume
	for k, v := range f.Vols {
		if strings.HasPrefix(k, pool+"/"+prefix) {
			x := v.v
			x.UsedBy = f.usedBy(pool, x.Name)
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// VolumeUsed is the size of the volume's data.
func (f *Fake) VolumeUsed(_ context.Context, pool, name string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return -1, err
	}
	return int64(len(v.data)), nil
}

// ResizeVolume sets the size.
func (f *Fake) ResizeVolume(_ context.Context, pool, name string, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return err
	}
	v.v.Size = size
	return nil
}

// SetVolumeOwner records the owner.
func (f *Fake) SetVolumeOwner(_ context.Context, pool, name, owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return err
	}
	v.v.Owner = owner
	return nil
}

// DeleteVolume deletes a volume no instance uses, as LXD refuses otherwise.
func (f *Fake) DeleteVolume(_ context.Context, pool, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.volume(pool, name); err != nil {
		return err
	}
	if f.usedBy(pool, name) > 0 {
		return fmt.Errorf("delete volume %s: %w", name, lxd.ErrInUse)
	}
	delete(f.Vols, f.volumeKey(pool, name))
	return nil
}

// SetDisk adds or replaces a disk device; a volume it names must exist,
// and no other disk of the instance may use its path, as LXD checks.
func (f *Fake) SetDisk(_ context.Context, project, name, device string, d lxd.Disk) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	if d.Pool != "" {
		if _, err := f.volume(d.Pool, d.Source); err != nil {
			return err
		}
	}
	cur := f.devs[key(project, name)].clone()
	for dev, other := range cur.own {
		if o, ok := lxd.DiskOf(other); ok && dev != device && o.Path == d.Path {
			return fmt.Errorf("configure %s: more than one disk device uses path %s", name, d.Path)
		}
	}
	cur.own[device] = d.Device()
	f.setDevices(in, cur)
	return nil
}

// RemoveDisk removes an own device; a missing one is no error.
func (f *Fake) RemoveDisk(_ context.Context, project, name, device string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	cur := f.devs[key(project, name)].clone()
	delete(cur.own, device)
	f.setDevices(in, cur)
	return nil
}

// WriteVolume replaces a volume's data, as a container writing into it.
func (f *Fake) WriteVolume(pool, name string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return err
	}
	v.data = bytes.Clone(data)
	return nil
}

// VolumeData is a volume's data.
func (f *Fake) VolumeData(pool, name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(v.data), nil
}

// SnapshotVolume keeps the volume's data under snap.
func (f *Fake) SnapshotVolume(_ context.Context, pool, name, snap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return err
	}
	if _, ok := v.saved[snap]; ok {
		return fmt.Errorf("snapshot %s: %w", snap, lxd.ErrExists)
	}
	at := time.Unix(1_700_000_000+int64(len(v.snaps)), 0)
	if n := len(v.snaps); n > 0 && !v.snaps[n-1].Created.Before(at) {
		at = v.snaps[n-1].Created.Add(time.Second)
	}
	v.snaps = append(v.snaps, lxd.Snapshot{Name: snap, Created: at, Size: -1})
	v.saved[snap] = bytes.Clone(v.data)
	return nil
}

// VolumeSnapshots lists a volume's snapshots, oldest first.
func (f *Fake) VolumeSnapshots(_ context.Context, pool, name string) ([]lxd.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return nil, err
	}
	return append([]lxd.Snapshot{}, v.snaps...), nil
}

// DeleteVolumeSnapshot deletes one snapshot.
func (f *Fake) DeleteVolumeSnapshot(_ context.Context, pool, name, snap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return err
	}
	for i, s := range v.snaps {
		if s.Name == snap {
			v.snaps = append(v.snaps[:i], v.snaps[i+1:]...)
			delete(v.saved, snap)
			return nil
		}
	}
	return fmt.Errorf("snapshot %s: %w", snap, lxd.ErrNotFound)
}

// RestoreVolume brings back a snapshot's data.
func (f *Fake) RestoreVolume(_ context.Context, pool, name, snap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.volume(pool, name)
	if err != nil {
		return err
	}
	data, ok := v.saved[snap]
	if !ok {
		return fmt.Errorf("snapshot %s: %w", snap, lxd.ErrNotFound)
	}
	v.data = bytes.Clone(data)
	return nil
}

// exportHeader starts the fake's export format: a header line with the
// volume's size (as a backup's index carries its config), then the data.
const exportHeader = "lxdtest-volume-backup size="

// ExportVolume writes the fake's backup of a volume.
func (f *Fake) ExportVolume(_ context.Context, pool, name string, w io.Writer) (int64, error) {
	f.mu.Lock()
	v, err := f.volume(pool, name)
	var data []byte
	if err == nil {
		data = append([]byte(fmt.Sprintf("%s%d\n", exportHeader, v.v.Size)), v.data...)
	}
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(data)
	return int64(n), err
}

// ImportVolume makes a volume from the fake's backup format; anything
// else is refused, as LXD refuses a tarball that is not a backup.
func (f *Fake) ImportVolume(_ context.Context, pool, name string, r io.Reader) error {
	br := bufio.NewReader(r)
	head, err := br.ReadString('\n')
	var size int64
	if n, _ := fmt.Sscanf(strings.TrimPrefix(head, exportHeader), "%d\n", &size); err != nil || !strings.HasPrefix(head, exportHeader) || n != 1 {
		return errors.New("import volume " + name + ": LXD failed; the error was logged for the admin")
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return err
	}
	if f.FailVolumes != nil {
		return f.FailVolumes
	}
	if err := f.addVolume(pool, lxd.Volume{Name: name, Size: size, Owner: "imported-claim", Created: time.Now().UTC()}); err != nil {
		return err
	}
	f.Vols[f.volumeKey(pool, name)].data = data
	return nil
}

// Disks reads an instance's own disk devices and its member.
func (f *Fake) Disks(_ context.Context, project, name string) (map[string]lxd.Disk, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return nil, "", err
	}
	out := maps.Clone(in.Disks)
	if out == nil {
		out = map[string]lxd.Disk{}
	}
	return out, in.Location, nil
}

// VolumeDevices lists an instance's disk devices, for tests.
func (f *Fake) VolumeDevices(project, name string) map[string]lxd.Disk {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.Instances[key(project, name)]
	if !ok {
		return nil
	}
	return maps.Clone(in.Disks)
}
