package lxdtest

import (
	"context"
	"maps"
	"slices"
	"sort"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// devices is what the fake keeps of an instance's (or a snapshot's)
// profiles and own devices, as LXD does: a copy inherits its source's own
// devices unless its request overrides them by name, and a restore brings
// back the snapshot's.
type devices struct {
	profiles []string
	own      map[string]map[string]string
}

func (d devices) clone() devices {
	out := devices{profiles: slices.Clone(d.profiles), own: map[string]map[string]string{}}
	for k, v := range d.own {
		out.own[k] = maps.Clone(v)
	}
	return out
}

// expanded applies the profiles' devices (only the GPU profile has any
// here) under the instance's own.
func (f *Fake) expanded(d devices) map[string]map[string]string {
	out := map[string]map[string]string{}
	if f.Profile != nil && slices.Contains(d.profiles, f.Profile.Name) {
		out[lxd.GPUProfileDevice] = map[string]string{"type": "gpu", "gputype": "physical"}
	}
	maps.Copy(out, d.own)
	return out
}

// setDevices records an instance's devices and what the adapter reads of
// them (GPUs, GPUDevices), in new slices and maps: copies handed out by
// Get and List keep the old ones.
func (f *Fake) setDevices(in *lxd.Instance, d devices) {
	if f.devs == nil {
		f.devs = map[string]devices{}
	}
	f.devs[key(in.Project, in.Name)] = d
	in.GPUs, in.GPUDevices = nil, nil
	for name, dev := range f.expanded(d) {
		if dev["type"] != "gpu" {
			continue
		}
		id := lxd.GPUOf(dev)
		if in.GPUDevices == nil {
			in.GPUDevices = map[string]string{}
		}
		in.GPUDevices[name] = id
		in.GPUs = append(in.GPUs, id)
	}
	sort.Strings(in.GPUs)
	in.Disks = nil
	for name, dev := range d.own {
		if disk, ok := lxd.DiskOf(dev); ok {
			if in.Disks == nil {
				in.Disks = map[string]lxd.Disk{}
			}
			in.Disks[name] = disk
		}
	}
}

// createDevices are a new instance's devices: its source snapshot's own
// (for a copy) overridden by the spec's, and the spec's profiles.
func (f *Fake) createDevices(project string, spec lxd.Spec) devices {
	d := devices{own: map[string]map[string]string{}}
	if spec.CopyOf != "" {
		if src, ok := f.snapDevs[project+"/"+spec.CopyOf]; ok {
			d = src.clone()
		}
	}
	d.profiles = append([]string{"default"}, spec.Profiles...)
	for dev, id := range spec.GPUs {
		d.own[dev] = lxd.GPUDevice(id)
	}
	for dev, disk := range spec.Disks {
		d.own[dev] = disk.Device()
	}
	return d
}

// SetGPUs makes an instance's GPU devices exactly w's, as the adapter does.
func (f *Fake) SetGPUs(_ context.Context, project, name string, w lxd.GPUWant) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return false, err
	}
	if f.FailGPUs != nil {
		return false, f.FailGPUs
	}
	d := f.devs[key(project, name)]
	profiles, own, changed := lxd.RewriteGPUs(d.profiles, d.own, f.expanded(d), w)
	if changed {
		f.setDevices(in, devices{profiles: profiles, own: own})
		f.GPUWrites = append(f.GPUWrites, key(project, name))
	}
	return changed, nil
}

// AddDevice adds an own device to an instance, as 'lxc config device add'
// does behind the gateway's back.
func (f *Fake) AddDevice(project, name, dev string, config map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	d := f.devs[key(project, name)].clone()
	d.own[dev] = maps.Clone(config)
	f.setDevices(in, d)
	return nil
}

// GPUs lists the host GPUs.
func (f *Fake) GPUs(context.Context) ([]lxd.GPU, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]lxd.GPU(nil), f.HostGPUs...), f.up()
}

// EnsureGPUProfile records the profile.
func (f *Fake) EnsureGPUProfile(_ context.Context, p lxd.GPUProfile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Profile = &p
	return f.up()
}
