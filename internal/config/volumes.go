package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/lxcgate/lxcgate/internal/mountpath"
)

// Volumes configures users' volumes: custom LXD storage volumes that
// outlive containers.
type Volumes struct {
	// Pool is the LXD storage pool volumes are made on.
	Pool        string `toml:"pool"`
	DefaultSize Size   `toml:"default_size"` // 'volume create' without --size
	MaxSize     Size   `toml:"max_size"`     // the most one volume may be; 0: no cap
	// Personal, when set, is the path where every container of a user gets
	// their volume "home", made with their first container.
	Personal string `toml:"personal"`
}

// Dataset is a host directory the lab offers to containers.
type Dataset struct {
	Source string `toml:"source"` // a host path
	Path   string `toml:"path"`   // where it shows in the container
	// ReadOnly is true unless the admin says otherwise (nil: true).
	ReadOnly *bool    `toml:"readonly"`
	Default  bool     `toml:"default"` // attached to every new container
	Users    []string `toml:"users"`   // who may use it; empty: everyone
	// Members are the cluster members where the source exists (the gateway
	// cannot look on another member); empty: every member. Ignored on a
	// single host.
	Members []string `toml:"members"`
}

// Writable is the dataset's mode: read-only unless readonly = false.
func (d Dataset) Writable() bool { return d.ReadOnly != nil && !*d.ReadOnly }

// memberNameRE is what an LXD cluster member's name may be.
var memberNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$`)

var datasetNameRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]{0,46}[a-zA-Z0-9])?$`)

// validateVolumes checks [volumes] and every [datasets.NAME]. Whether a
// dataset's source exists is doctor's to say: it may be mounted later.
func (c *Config) validateVolumes() error {
	v := c.Volumes
	switch {
	case v.Pool == "":
		return errors.New("volumes.pool must name an LXD storage pool")
	case v.DefaultSize <= 0:
		return errors.New("volumes.default_size must be positive")
	case v.MaxSize < 0:
		return errors.New("volumes.max_size must be 0 (no cap) or positive")
	case v.MaxSize > 0 && v.DefaultSize > v.MaxSize:
		return errors.New("volumes.default_size is larger than volumes.max_size")
	}
	if v.Personal != "" {
		if _, err := mountpath.Check(v.Personal); err != nil {
			return fmt.Errorf("volumes.personal: %w", err)
		}
	}
	names := make([]string, 0, len(c.Datasets))
	for n := range c.Datasets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := c.validateDataset(n, c.Datasets[n]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateDataset(name string, d Dataset) error {
	if !datasetNameRE.MatchString(name) {
		return fmt.Errorf("datasets.%s: use 1-48 letters, digits and '-', starting with a letter", name)
	}
	if d.Source == "" || !filepath.IsAbs(d.Source) || filepath.Clean(d.Source) != d.Source {
		return fmt.Errorf("datasets.%s.source %q: give an absolute, normalised host path", name, d.Source)
	}
	if _, err := mountpath.Check(d.Path); err != nil {
		return fmt.Errorf("datasets.%s.path: %w", name, err)
	}
	for _, u := range d.Users {
		if !validUserName(u) {
			return fmt.Errorf("datasets.%s.users: %q is not a user name", name, u)
		}
	}
	for _, m := range d.Members {
		if !memberNameRE.MatchString(m) {
			return fmt.Errorf("datasets.%s.members: %q is not a cluster member name", name, m)
		}
	}
	for other, o := range c.Datasets {
		if other < name && o.Default && d.Default && mountpath.Overlaps(o.Path, d.Path) {
			return fmt.Errorf("datasets.%s.path %s overlaps datasets.%s.path %s; both are default", name, d.Path, other, o.Path)
		}
	}
	if c.Volumes.Personal != "" && d.Default && mountpath.Overlaps(c.Volumes.Personal, d.Path) {
		return fmt.Errorf("datasets.%s.path %s overlaps volumes.personal %s", name, d.Path, c.Volumes.Personal)
	}
	return nil
}
