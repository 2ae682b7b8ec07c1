package containers

import (
	"fmt"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// The rules below are shared by container and volume snapshots, so that
// both name, pin and prune alike.

// snapName is the name a new snapshot gets: snap, or one by the time when
// the user gave none; a bad name is refused.
func snapName(snap string) (string, error) {
	if snap == "" {
		snap = "snap-" + time.Now().UTC().Format("20060102-150405")
	}
	if err := checkSnapName(snap); err != nil {
		return "", err
	}
	return snap, nil
}

// withPins marks the pinned snapshots; stale are the pins whose snapshot
// is gone, which the caller drops so that they cannot pin a later snapshot
// of the same name.
func withPins(snaps []lxd.Snapshot, pinned []string) (out []SnapshotInfo, stale []string) {
	pins := map[string]bool{}
	for _, n := range pinned {
		pins[n] = true
	}
	out = []SnapshotInfo{}
	for _, sp := range snaps {
		out = append(out, SnapshotInfo{Name: sp.Name, Created: sp.Created, Pinned: pins[sp.Name], Size: sp.Size})
		delete(pins, sp.Name)
	}
	for n := range pins {
		stale = append(stale, n)
	}
	return out, stale
}

// pruneUnpinned deletes, with del, the oldest unpinned snapshots of list
// (oldest first) beyond keep, and returns what it deleted.
func pruneUnpinned(list []SnapshotInfo, keep int, del func(snap string) error) ([]string, error) {
	var unpinned []SnapshotInfo
	for _, si := range list {
		if !si.Pinned {
			unpinned = append(unpinned, si)
		}
	}
	var pruned []string
	for i := 0; i < len(unpinned)-keep; i++ {
		if err := del(unpinned[i].Name); err != nil {
			return pruned, fmt.Errorf("prune %s: %w", unpinned[i].Name, err)
		}
		pruned = append(pruned, unpinned[i].Name)
	}
	return pruned, nil
}
