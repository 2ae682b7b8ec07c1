package containers

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// ErrNoDataset is the answer for a dataset that does not exist and for one
// the user may not use.
var ErrNoDataset = errors.New("no such dataset")

// Dataset is a host directory the lab offers to containers.
type Dataset struct {
	Source   string   `json:"-"` // the host path: the admin's, not shown to users
	Path     string   `json:"path"`
	Writable bool     `json:"writable"`
	Default  bool     `json:"default"`
	Users    []string `json:"users"` // empty: everyone
	// Members are the cluster members the source is on (empty: every
	// one); the admin's, not shown to users. Unused on a single host.
	Members []string `json:"-"`
}

// DatasetInfo is a dataset as 'datasets' lists it.
type DatasetInfo struct {
	Name string `json:"name"`
	Dataset
}

// datasetDevice is a dataset's device name ('.' is in no dataset name).
func datasetDevice(name string) string { return "ds." + name }

// mayUse reports whether user may use the dataset.
func (d Dataset) mayUse(user string) bool { return len(d.Users) == 0 || slices.Contains(d.Users, user) }

// Datasets lists the datasets user may use, by name.
func (s *Service) Datasets(user string) []DatasetInfo {
	out := []DatasetInfo{}
	for name, d := range s.conf().Datasets {
		if d.mayUse(user) {
			if d.Users == nil {
				d.Users = []string{}
			}
			out = append(out, DatasetInfo{Name: name, Dataset: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// datasetDisk checks that user may use dataset name and that its source
// exists, and returns its device. On cluster member host, a dataset
// with members is taken at the admin's word (the gateway cannot look on
// another member); otherwise the source is looked for on this host.
func (s *Service) datasetDisk(user, name, host string) (lxd.Disk, error) {
	d, ok := s.conf().Datasets[name]
	if !ok || !d.mayUse(user) {
		return lxd.Disk{}, fmt.Errorf("%w %q; 'datasets' lists those you may use", ErrNoDataset, name)
	}
	if host != "" && len(d.Members) > 0 {
		if !slices.Contains(d.Members, host) {
			return lxd.Disk{}, fmt.Errorf("dataset %s is only on %s, not on %s", name, strings.Join(d.Members, ", "), host)
		}
		return lxd.Disk{Source: d.Source, Path: d.Path, ReadOnly: !d.Writable}, nil
	}
	if fi, err := os.Stat(d.Source); err != nil || !fi.IsDir() {
		s.log.Error("a dataset's source is missing", "dataset", name, "source", d.Source, "err", err)
		return lxd.Disk{}, fmt.Errorf("dataset %s is not available on this host right now (its source is missing); ask an admin", name)
	}
	return lxd.Disk{Source: d.Source, Path: d.Path, ReadOnly: !d.Writable}, nil
}
