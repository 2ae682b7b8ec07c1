package lxdtest

import (
	"context"
	"fmt"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// Snapshot records a snapshot.
func (f *Fake) Snapshot(_ context.Context, project, name, snap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	if f.Snaps == nil {
		f.Snaps = map[string][]lxd.Snapshot{}
	}
	k := key(project, name)
	for _, s := range f.Snaps[k] {
		if s.Name == snap {
			return fmt.Errorf("snapshot %s: %w", snap, lxd.ErrExists)
		}
	}
	// Distinct, increasing times keep the order stable in tests.
	at := time.Unix(1_700_000_000+int64(len(f.Snaps[k])), 0)
	if n := len(f.Snaps[k]); n > 0 && !f.Snaps[k][n-1].Created.Before(at) {
		at = f.Snaps[k][n-1].Created.Add(time.Second)
	}
	f.Snaps[k] = append(f.Snaps[k], lxd.Snapshot{Name: snap, Created: at, Size: -1})
	in.Snapshots = len(f.Snaps[k])
	if f.snapDevs == nil {
		f.snapDevs = map[string]devices{}
	}
	f.snapDevs[k+"/"+snap] = f.devs[k].clone() // a snapshot keeps the devices of its time
	return nil
}

// Snapshots lists snapshots, oldest first.
func (f *Fake) Snapshots(_ context.Context, project, name string) ([]lxd.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(project, name); err != nil {
		return nil, err
	}
	return append([]lxd.Snapshot{}, f.Snaps[key(project, name)]...), nil
}

// DeleteSnapshot deletes a snapshot.
func (f *Fake) DeleteSnapshot(_ context.Context, project, name, snap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	k := key(project, name)
	for i, s := range f.Snaps[k] {
		if s.Name == snap {
			f.Snaps[k] = append(f.Snaps[k][:i], f.Snaps[k][i+1:]...)
			in.Snapshots = len(f.Snaps[k])
			delete(f.snapDevs, k+"/"+snap)
			return nil
		}
	}
	return fmt.Errorf("snapshot %s: %w", snap, lxd.ErrNotFound)
}

// Restore checks the snapshot exists and the container is stopped, and
// brings back the snapshot's devices and profiles, as LXD does.
func (f *Fake) Restore(_ context.Context, project, name, snap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.getIn(project, name, "restore", false)
	if err != nil {
		return err
	}
	for _, s := range f.Snaps[key(project, name)] {
		if s.Name == snap {
			if d, ok := f.snapDevs[key(project, name)+"/"+snap]; ok {
				f.setDevices(in, d.clone())
			}
			return nil
		}
	}
	return fmt.Errorf("snapshot %s: %w", snap, lxd.ErrNotFound)
}
