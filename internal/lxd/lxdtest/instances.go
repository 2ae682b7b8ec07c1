package lxdtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// Create creates (and maybe starts) an instance.
func (f *Fake) Create(ctx context.Context, project string, spec lxd.Spec, progress func(string)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return err
	}
	l, ok := f.Projects[project]
	if !ok {
		return fmt.Errorf("create %s: %w", spec.Name, lxd.ErrProjectMissing)
	}
	if _, ok := f.Instances[key(project, spec.Name)]; ok {
		return fmt.Errorf("create %s: %w", spec.Name, lxd.ErrExists)
	}
	n := 0
	for _, in := range f.Instances {
		if in.Project == project {
			n++
		}
	}
	if l.Instances > 0 && n >= l.Instances {
		return fmt.Errorf("create %s: %w", spec.Name, lxd.ErrLimit)
	}
	found := spec.CopyOf != ""
	for _, im := range f.ImageList {
		found = found || im.Alias == spec.Image
	}
	if !found {
		return fmt.Errorf("create %s: %w", spec.Name, lxd.ErrImageNotFound)
	}
	if progress != nil {
		progress("Unpack: 100%")
	}
	in := &lxd.Instance{Name: spec.Name, Project: project, Status: "Stopped", Created: time.Now().UTC(),
		CPU: spec.CPU, Memory: spec.Memory, Disk: spec.Disk, Image: spec.Image, Location: spec.Target, Routed: spec.Routed}
	if in.Location == "" && len(f.Cluster) > 0 {
		in.Location = f.Cluster[0].Name
	}
	if m := f.member(in.Location); m != nil && !m.Online {
		return fmt.Errorf("create %s: %w", spec.Name, lxd.ErrUnavailable)
	}
	f.setDevices(in, f.createDevices(project, spec))
	var base map[string]string
	if src, _, ok := strings.Cut(spec.CopyOf, "/"); ok && f.Instances[key(project, src)] != nil {
		base = f.Instances[key(project, src)].Config // a copy takes its source's config, as LXD's does
	}
	in.Config = keepConfig(base, spec.Config)
	f.Instances[key(project, spec.Name)] = in
	if spec.Start {
		if f.FailStart != nil {
			delete(f.Instances, key(project, spec.Name)) // the adapter undoes the create
			delete(f.devs, key(project, spec.Name))
			return f.FailStart
		}
		f.start(in)
	}
	return ctx.Err()
}

func (f *Fake) start(in *lxd.Instance) {
	f.nextIP++
	in.Running, in.Status, in.IPv4 = true, "Running", fmt.Sprintf("10.166.0.%d", 10+f.nextIP%200)
	if in.Routed != "" {
		in.IPv4 = in.Routed
	}
}

func (f *Fake) get(project, name string) (*lxd.Instance, error) {
	if err := f.up(); err != nil {
		return nil, err
	}
	in, ok := f.Instances[key(project, name)]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, lxd.ErrNotFound)
	}
	return in, nil
}

// getIn returns the instance when it is running (or stopped, for running
// false) as op needs, and LXD's error for op otherwise. The caller holds
// f.mu.
func (f *Fake) getIn(project, name, op string, running bool) (*lxd.Instance, error) {
	in, err := f.get(project, name)
	if err != nil {
		return nil, err
	}
	switch {
	case running && !in.Running:
		return nil, fmt.Errorf("%s %s: %w", op, name, lxd.ErrNotRunning)
	case !running && in.Running:
		return nil, fmt.Errorf("%s %s: %w", op, name, lxd.ErrRunning)
	}
	return in, nil
}

// Start starts an instance.
func (f *Fake) Start(_ context.Context, project, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.getIn(project, name, "start", false)
	if err != nil {
		return err
	}
	if f.FailStart != nil {
		return f.FailStart
	}
	f.start(in)
	return nil
}

// Stop stops an instance.
func (f *Fake) Stop(_ context.Context, project, name string, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.getIn(project, name, "stop", true)
	if err != nil {
		return err
	}
	in.Running, in.Status, in.IPv4 = false, "Stopped", ""
	return nil
}

// Restart restarts a running instance.
func (f *Fake) Restart(_ context.Context, project, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.getIn(project, name, "restart", true)
	return err
}

// Delete deletes an instance; a running one needs force.
func (f *Fake) Delete(_ context.Context, project, name string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	if in.Running && !force {
		return fmt.Errorf("delete %s: %w", name, lxd.ErrRunning)
	}
	delete(f.Instances, key(project, name))
	delete(f.devs, key(project, name))
	for k := range f.snapDevs {
		if strings.HasPrefix(k, key(project, name)+"/") {
			delete(f.snapDevs, k)
		}
	}
	return nil
}

// Get returns one instance.
func (f *Fake) Get(_ context.Context, project, name string) (lxd.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return lxd.Instance{}, err
	}
	return f.view(in), nil
}

// view is an instance as the adapter returns it: marked when its member
// is offline.
func (f *Fake) view(in *lxd.Instance) lxd.Instance {
	out := *in
	if m := f.member(in.Location); m != nil && !m.Online {
		out.Offline, out.Running, out.Status, out.IPv4 = m.Name, false, "Unreachable", ""
	}
	return out
}

// List returns the instances of a project, or of all with "".
func (f *Fake) List(_ context.Context, project string) ([]lxd.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return nil, err
	}
	out := []lxd.Instance{}
	for _, in := range f.Instances {
		if project == "" || in.Project == project {
			out = append(out, f.view(in))
		}
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i].Project, out[i].Name) < key(out[j].Project, out[j].Name) })
	return out, nil
}

// SecureNIC records that the instance's NIC was given filtering.
func (f *Fake) SecureNIC(_ context.Context, project, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(project, name); err != nil {
		return err
	}
	f.Secured = append(f.Secured, key(project, name))
	return f.up()
}

// IsRunning reports whether an instance runs.
func (f *Fake) IsRunning(_ context.Context, project, name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return false, err
	}
	return in.Running, nil
}

// SetConfig keeps lxcgate's own keys (see keepConfig) and checks the
// instance.
func (f *Fake) SetConfig(_ context.Context, project, name string, kv map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	in.Config = keepConfig(in.Config, kv)
	return nil
}

// SetRouted changes a stopped instance's routed address.
func (f *Fake) SetRouted(_ context.Context, project, name, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	in.Routed = addr
	return nil
}
