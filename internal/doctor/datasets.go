package doctor

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// CheckDatasets says, for each configured dataset (name -> host source),
// whether its source exists: a launch asking for a missing one is refused.
func CheckDatasets(sources map[string]string) []Check {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Check
	for _, n := range names {
		c := Check{Name: "dataset " + n}
		fi, err := os.Stat(sources[n])
		switch {
		case err != nil:
			c.Status, c.Detail = Fail, fmt.Sprintf("source %s is missing: launches asking for %s are refused", sources[n], n)
		case !fi.IsDir():
			c.Status, c.Detail = Fail, fmt.Sprintf("source %s is not a directory", sources[n])
		default:
			c.Status, c.Detail = OK, sources[n]
		}
		out = append(out, c)
	}
	return out
}

// ClusterDatasets lists, for each configured dataset, the cluster members
// its source is on, as the admin said ([datasets.NAME] members): the
// gateway cannot look on another member, and placement trusts the list.
func ClusterDatasets(sources map[string]string, members map[string][]string) []Check {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Check, 0, len(names))
	for _, n := range names {
		on := "every member"
		if ms := members[n]; len(ms) > 0 {
			on = "members " + strings.Join(ms, ", ")
		}
		out = append(out, Check{Name: "dataset " + n, Status: OK,
			Detail: fmt.Sprintf("%s on %s (as configured: the gateway cannot look on a member)", sources[n], on)})
	}
	return out
}
