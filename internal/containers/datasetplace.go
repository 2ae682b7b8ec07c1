package containers

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// datasetPlaces narrows a cluster's members to those a new container's
// datasets are on ([datasets.NAME] members; empty: every member). A
// dataset asked for must be on the member chosen: --host or a volume's
// member elsewhere, or no online member of the user's group left, is
// refused naming the dataset and its members. A default dataset only
// steers: where it would leave no member, it is left out instead
// (datasetsFor says so).
func (s *Service) datasetPlaces(user string, req CreateRequest, ms []lxd.Member, group string) ([]lxd.Member, error) {
	conf := s.conf().Datasets
	for _, name := range req.Datasets {
		d, ok := conf[name]
		if !ok || !d.mayUse(user) || len(d.Members) == 0 {
			continue // planDisks answers for an unknown one
		}
		if err := datasetHostFits(name, d, req); err != nil {
			return nil, err
		}
		ms = onMembers(ms, d.Members)
		if req.Host == "" && !slices.ContainsFunc(ms, usableIn(group)) {
			return nil, fmt.Errorf("dataset %s is only on %s, and no member you may use there is online with everything else asked for; ask an admin",
				name, strings.Join(d.Members, ", "))
		}
	}
	if req.Host != "" {
		return ms, nil
	}
	var defaults []string
	for name, d := range conf {
		if d.Default && d.mayUse(user) && len(d.Members) > 0 && !slices.Contains(req.Datasets, name) {
			defaults = append(defaults, name)
		}
	}
	sort.Strings(defaults)
	for _, name := range defaults {
		if on := onMembers(ms, conf[name].Members); slices.ContainsFunc(on, usableIn(group)) {
			ms = on
		}
	}
	return ms, nil
}

// datasetHostFits checks a dataset asked for against the member already
// chosen, by --host or by a volume.
func datasetHostFits(name string, d Dataset, req CreateRequest) error {
	if req.Host == "" || slices.Contains(d.Members, req.Host) {
		return nil
	}
	on := strings.Join(d.Members, ", ")
	if req.hostFrom != "" {
		return fmt.Errorf("dataset %s is only on %s, but volume %s lives on %s; launch with one of them, or ask an admin to add %s to the dataset's members",
			name, on, req.hostFrom, req.Host, req.Host)
	}
	return fmt.Errorf("dataset %s is only on %s, not on %s; give --host one of those, or leave it out", name, on, req.Host)
}

// onMembers keeps the members named.
func onMembers(ms []lxd.Member, names []string) []lxd.Member {
	var out []lxd.Member
	for _, m := range ms {
		if slices.Contains(names, m.Name) {
			out = append(out, m)
		}
	}
	return out
}

// usableIn reports whether a member can take a new container of a user
// held to group ("" for any).
func usableIn(group string) func(lxd.Member) bool {
	return func(m lxd.Member) bool { return m.Online && (group == "" || slices.Contains(m.Groups, group)) }
}
