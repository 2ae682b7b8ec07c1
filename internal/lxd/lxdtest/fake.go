// Package lxdtest provides an in-memory LXD for tests of the packages above
// the adapter. It keeps the adapter's contract: the same sentinel errors,
// projects that must exist, project instance limits enforced.
package lxdtest

import (
	"context"
	"sync"

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
	// Spawns records the streaming processes run; Program, when set, is
	// what they do (by default, cat).
	Spawns  []Spawned
	Program Program
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

	// Vols holds custom volumes by pool/name; FailVolumes, when set, makes
	// CreateVolume and ImportVolume fail.
	Vols        map[string]*volume
	FailVolumes error

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

// Images lists the images.
func (f *Fake) Images(context.Context) ([]lxd.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]lxd.Image(nil), f.ImageList...), f.up()
}

// Count returns the number of instances in all projects.
func (f *Fake) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Instances)
}
