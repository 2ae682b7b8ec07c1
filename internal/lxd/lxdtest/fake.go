// Package lxdtest provides an in-memory LXD for tests of the packages above
// the adapter. It keeps the adapter's contract: the same sentinel errors,
// projects that must exist, project instance limits enforced.
package lxdtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// Fake is an in-memory LXD. The exported fields may be set before use.
type Fake struct {
	mu        sync.Mutex
	Projects  map[string]lxd.Limits
	Instances map[string]*lxd.Instance // by project/name
	ImageList []lxd.Image
	HostGPUs  []lxd.GPU
	Profile   *lxd.GPUProfile

	// FailStart, when set, makes Start (and the start of a launch) fail.
	FailStart error
	// Down makes every call fail as if the daemon were away.
	Down bool

	nextIP int
	// Files holds container files by "project/name:path"; Execs records
	// the commands run, with their stdin.
	Files map[string][]byte
	Execs []string
	// Snaps holds snapshots by project/name, oldest first.
	Snaps map[string][]lxd.Snapshot
	// Secured lists the instances SecureNIC was called for.
	Secured []string

	// Cluster, when set, makes the fake a cluster of these members (by
	// default a single host); Resources are each member's, by name.
	Cluster   []lxd.Member
	Resources map[string]lxd.Resources
	// Moves records Move calls as project/name>member.
	Moves []string
	// GPUWrites records the SetGPUs calls that changed an instance;
	// FailGPUs, when set, makes SetGPUs fail.
	GPUWrites []string
	FailGPUs  error

	devs     map[string]devices // by project/name
	snapDevs map[string]devices // by project/name/snapshot
}

// New returns a Fake with the lab's two images and no GPUs.
func New() *Fake {
	return &Fake{
		Projects:  map[string]lxd.Limits{},
		Instances: map[string]*lxd.Instance{},
		ImageList: []lxd.Image{
			{Alias: "lxcgate-busybox", Description: "BusyBox", Size: 1 << 20},
			{Alias: "lxcgate-debian", Description: "Debian 12", Size: 100 << 20},
		},
	}
}

func (f *Fake) up() error {
	if f.Down {
		return lxd.ErrUnavailable
	}
	return nil
}

func key(project, name string) string { return project + "/" + name }

// EnsureProject creates or updates a project.
func (f *Fake) EnsureProject(_ context.Context, name string, l lxd.Limits) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return err
	}
	f.Projects[name] = l
	return nil
}

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

func (f *Fake) member(name string) *lxd.Member {
	for i := range f.Cluster {
		if f.Cluster[i].Name == name {
			return &f.Cluster[i]
		}
	}
	return nil
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

// Start starts an instance.
func (f *Fake) Start(_ context.Context, project, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	if in.Running {
		return fmt.Errorf("start %s: %w", name, lxd.ErrRunning)
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
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	if !in.Running {
		return fmt.Errorf("stop %s: %w", name, lxd.ErrNotRunning)
	}
	in.Running, in.Status, in.IPv4 = false, "Stopped", ""
	return nil
}

// Restart restarts a running instance.
func (f *Fake) Restart(_ context.Context, project, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	if !in.Running {
		return fmt.Errorf("restart %s: %w", name, lxd.ErrNotRunning)
	}
	return nil
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

// Images lists the images.
func (f *Fake) Images(context.Context) ([]lxd.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]lxd.Image(nil), f.ImageList...), f.up()
}

// GPUs lists the host GPUs.
func (f *Fake) GPUs(context.Context) ([]lxd.GPU, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]lxd.GPU(nil), f.HostGPUs...), f.up()
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

// EnsureGPUProfile records the profile.
func (f *Fake) EnsureGPUProfile(_ context.Context, p lxd.GPUProfile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Profile = &p
	return f.up()
}

// ReadFile reads a container file.
func (f *Fake) ReadFile(_ context.Context, project, name, path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(project, name); err != nil {
		return nil, err
	}
	b, ok := f.Files[key(project, name)+":"+path]
	if !ok {
		if path == "/etc/passwd" {
			return []byte("root:x:0:0:root:/root:/bin/sh\nubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n"), nil
		}
		return nil, fmt.Errorf("%s: %w", path, lxd.ErrNoFile)
	}
	return append([]byte(nil), b...), nil
}

// WriteFile writes a container file.
func (f *Fake) WriteFile(_ context.Context, project, name, path string, data []byte, _, _ int64, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(project, name); err != nil {
		return err
	}
	if f.Files == nil {
		f.Files = map[string][]byte{}
	}
	f.Files[key(project, name)+":"+path] = append([]byte(nil), data...)
	return nil
}

// Mkdir pretends to make a directory.
func (f *Fake) Mkdir(_ context.Context, project, name, _ string, _, _ int64, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.get(project, name)
	return err
}

// Exec records a command and succeeds.
func (f *Fake) Exec(_ context.Context, project, name string, argv []string, stdin []byte) (int, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(project, name); err != nil {
		return -1, "", err
	}
	f.Execs = append(f.Execs, fmt.Sprintf("%s %v <%s", key(project, name), argv, stdin))
	return 0, "", nil
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
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	if in.Running {
		return fmt.Errorf("restore %s: %w", name, lxd.ErrRunning)
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

// Count returns the number of instances in all projects.
func (f *Fake) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Instances)
}

// Members lists the cluster's members; nil for a single host.
func (f *Fake) Members(context.Context) ([]lxd.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return nil, err
	}
	if f.Cluster == nil {
		return nil, nil
	}
	return append([]lxd.Member(nil), f.Cluster...), nil
}

// SetOnline marks a member online or offline, as a heartbeat would.
func (f *Fake) SetOnline(member string, online bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.member(member); m != nil {
		m.Online, m.Status = online, "Online"
		if !online {
			m.Status = "Offline"
		}
	}
}

// MemberResources returns a member's resources.
func (f *Fake) MemberResources(_ context.Context, member string) (lxd.Resources, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return lxd.Resources{}, err
	}
	if m := f.member(member); m != nil && !m.Online {
		return lxd.Resources{}, lxd.ErrUnavailable
	}
	return f.Resources[member], nil
}

// Move moves a stopped instance to another member.
func (f *Fake) Move(_ context.Context, project, name, member string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.get(project, name)
	if err != nil {
		return err
	}
	if in.Running {
		return fmt.Errorf("move %s: %w", name, lxd.ErrRunning)
	}
	if m := f.member(member); m == nil || !m.Online {
		return fmt.Errorf("move %s: %w", name, lxd.ErrUnavailable)
	}
	in.Location = member
	f.Moves = append(f.Moves, key(project, name)+">"+member)
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
