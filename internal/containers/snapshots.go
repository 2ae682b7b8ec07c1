package containers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/failpoint"
	"github.com/lxcgate/lxcgate/internal/lxd"
)

// Snapshotter is what snapshots need of LXD; lxd.Client and lxdtest.Fake
// satisfy it. The copy-on-write work is LXD's (ZFS or btrfs).
type Snapshotter interface {
	Snapshot(ctx context.Context, project, name, snap string) error
	Snapshots(ctx context.Context, project, name string) ([]lxd.Snapshot, error)
	DeleteSnapshot(ctx context.Context, project, name, snap string) error
	Restore(ctx context.Context, project, name, snap string) error
	SetConfig(ctx context.Context, project, name string, kv map[string]string) error
	IsRunning(ctx context.Context, project, name string) (bool, error)
}

// SnapshotInfo is one snapshot as the snapshots command shows it.
type SnapshotInfo struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Pinned  bool      `json:"pinned"`
	Size    int64     `json:"size"` // -1: the storage driver does not say
}

var snapRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)

// ErrBusy is returned when another operation holds the container.
var ErrBusy = errors.New("is busy with another operation; try again in a moment")

func checkSnapName(snap string) error {
	if !snapRE.MatchString(snap) {
		return fmt.Errorf("snapshot name %q: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", snap)
	}
	return nil
}

// TakeSnapshot snapshots user's container (running or not), named snap or
// by the time, pinned with keep; then prunes the oldest unpinned snapshots
// beyond the configured history. It returns the name and what was pruned.
func (s *Service) TakeSnapshot(ctx context.Context, user, name, snap string, keep bool) (string, []string, error) {
	if snap == "" {
		snap = "snap-" + time.Now().UTC().Format("20060102-150405")
	}
	if err := checkSnapName(snap); err != nil {
		return "", nil, err
	}
	sn := Snapshotter(s.lxd)
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return "", nil, err
	}
	defer release()
	// The quota counts every snapshot of the user's containers, scheduled
	// ones included.
	q, _, err := s.Quota(ctx, user)
	if err != nil {
		return "", nil, err
	}
	ins, err := s.lxd.List(ctx, s.Project(user))
	if err != nil {
		return "", nil, err
	}
	total, mine := 0, 0
	for _, in := range ins {
		total += in.Snapshots
		if in.Name == name {
			mine = in.Snapshots
		}
	}
	if total+1 > q.Snapshots {
		return "", nil, fmt.Errorf("%w: snapshots would be %d, your limit is %d; delete some first",
			ErrQuota, total+1, q.Snapshots)
	}
	p := s.Project(user)
	ctx = context.WithoutCancel(ctx) // a dropped connection must not leave a pin without its snapshot
	if err := sn.Snapshot(ctx, p, name, snap); err != nil {
		if errors.Is(err, lxd.ErrExists) {
			return "", nil, fmt.Errorf("%s already has a snapshot %q", name, snap)
		}
		return "", nil, fmt.Errorf("snapshot %s: %w", name, err)
	}
	failpoint.Hit("snapshot:taken")
	if keep {
		if err := s.st.Pins.Add(ctx, s.db, r.ID, snap); err != nil {
			return snap, nil, fmt.Errorf("snapshot %s taken, but pinning failed: %w", snap, err)
		}
	}
	if mine+1 <= s.conf().SnapshotKeep {
		return snap, nil, nil // within the history even before pins count: nothing to prune
	}
	pruned, err := s.prune(ctx, sn, r, user, name)
	return snap, pruned, err
}

// prune deletes the oldest unpinned snapshots of one container beyond the
// history limit. It never looks at another container's snapshots.
func (s *Service) prune(ctx context.Context, sn Snapshotter, r row, user, name string) ([]string, error) {
	list, err := s.snapshotInfo(ctx, sn, r, user, name)
	if err != nil {
		return nil, err
	}
	var unpinned []SnapshotInfo
	for _, si := range list {
		if !si.Pinned {
			unpinned = append(unpinned, si)
		}
	}
	var pruned []string
	for i := 0; i < len(unpinned)-s.conf().SnapshotKeep; i++ {
		if err := sn.DeleteSnapshot(ctx, s.Project(user), name, unpinned[i].Name); err != nil {
			return pruned, fmt.Errorf("prune %s: %w", unpinned[i].Name, err)
		}
		pruned = append(pruned, unpinned[i].Name)
	}
	return pruned, nil
}

func (s *Service) snapshotInfo(ctx context.Context, sn Snapshotter, r row, user, name string) ([]SnapshotInfo, error) {
	snaps, err := sn.Snapshots(ctx, s.Project(user), name)
	if err != nil {
		return nil, err
	}
	pinned, err := s.st.Pins.List(ctx, s.db, r.ID)
	if err != nil {
		return nil, fmt.Errorf("pins of %s: %w", name, err)
	}
	pins := map[string]bool{}
	for _, n := range pinned {
		pins[n] = true
	}
	out := []SnapshotInfo{}
	for _, sp := range snaps {
		out = append(out, SnapshotInfo{Name: sp.Name, Created: sp.Created, Pinned: pins[sp.Name], Size: sp.Size})
		delete(pins, sp.Name)
	}
	// A pin whose snapshot went (lxc delete, expiry) must not pin a later
	// snapshot of the same name.
	for stale := range pins {
		if err := s.st.Pins.Delete(ctx, s.db, r.ID, stale); err != nil {
			// Harmless until a snapshot of that name is taken again.
			s.log.Error("dropping a pin whose snapshot is gone failed", "user", user, "name", name, "snapshot", stale, "err", err)
		}
	}
	return out, nil
}

// Snapshots lists user's container's snapshots, oldest first.
func (s *Service) Snapshots(ctx context.Context, user, name string) ([]SnapshotInfo, error) {
	sn := Snapshotter(s.lxd)
	r, err := s.lookup(ctx, user, name)
	if err != nil {
		return nil, err
	}
	return s.snapshotInfo(ctx, sn, r, user, name)
}

// DeleteSnapshot deletes one snapshot (pinned or not: the user asked).
func (s *Service) DeleteSnapshot(ctx context.Context, user, name, snap string) error {
	if err := checkSnapName(snap); err != nil {
		return err
	}
	sn := Snapshotter(s.lxd)
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	if err := sn.DeleteSnapshot(ctx, s.Project(user), name, snap); err != nil {
		if errors.Is(err, lxd.ErrNotFound) {
			return errorf(ErrNoSnapshot, name, "%s has no snapshot %q", name, snap)
		}
		return err
	}
	if err := s.st.Pins.Delete(context.WithoutCancel(ctx), s.db, r.ID, snap); err != nil {
		// LXD deleted the snapshot; the stale pin goes at the next listing.
		s.log.Error("unpinning a deleted snapshot failed", "user", user, "name", name, "snapshot", snap, "err", err)
	}
	return nil
}

// Restore rolls user's container back to snap: stopped first if it runs,
// started again afterwards. It refuses, changing nothing, while another
// operation holds the container; once begun it finishes even if the
// connection drops. Host ports stay: they belong to the container.
func (s *Service) Restore(ctx context.Context, user, name, snap string) error {
	if err := checkSnapName(snap); err != nil {
		return err
	}
	sn := Snapshotter(s.lxd)
	s.busy.RLock()
	defer s.busy.RUnlock()
	unlock, ok := s.boxes.tryLock(user + "/" + name)
	if !ok {
		if _, err := s.lookup(ctx, user, name); err != nil {
			return err
		}
		return fmt.Errorf("%s %w", name, ErrBusy)
	}
	defer unlock()
	if _, err := s.lookup(ctx, user, name); err != nil {
		return err
	}
	p := s.Project(user)
	running, err := sn.IsRunning(ctx, p, name)
	if err != nil {
		return err
	}
	noSnap := errorf(ErrNoSnapshot, name, "%s has no snapshot %q", name, snap)
	if running {
		// Make sure before stopping it; a stopped one LXD checks itself.
		if found, err := hasSnapshot(ctx, sn, p, name, snap); err != nil || !found {
			return cmp.Or(err, error(noSnap))
		}
	}
	ctx = context.WithoutCancel(ctx)
	if running {
		if err := s.lxd.Stop(ctx, p, name, false); err != nil && !errors.Is(err, lxd.ErrNotRunning) {
			return fmt.Errorf("restore %s: stopping it failed, nothing changed: %w", name, err)
		}
		failpoint.Hit("restore:stopped")
	}
	restoreErr := sn.Restore(ctx, p, name, snap)
	failpoint.Hit("restore:restored")
	restoreErr = s.afterRestore(ctx, user, name, running, restoreErr)
	s.changed(user, name)
	if errors.Is(restoreErr, lxd.ErrNotFound) {
		return noSnap
	}
	if restoreErr != nil {
		return fmt.Errorf("restore %s: %w", name, restoreErr)
	}
	return nil
}

// afterRestore fits a restored container's GPU devices to its books (a
// snapshot brings back the devices of its time, whose GPUs may be someone
// else's now), then starts it again if it ran: whether or not the restore
// worked, the container is as it was, or as the snapshot was, and running.
func (s *Service) afterRestore(ctx context.Context, user, name string, running bool, restoreErr error) error {
	if restoreErr == nil {
		if err := s.fitGPUsOf(ctx, user, name); err != nil {
			return fmt.Errorf("restored, but fitting its GPU devices to what it holds failed, so it stays stopped: %w; restore it again", err)
		}
		if r, err := s.lookup(ctx, user, name); err == nil {
			if err := s.fitDisks(ctx, user, name, r.ID); err != nil {
				return fmt.Errorf("restored, but fitting its volumes to what is attached failed, so it stays stopped: %w; restore it again", err)
			}
		}
	}
	if running {
		if err := s.lxd.Start(ctx, s.Project(user), name); err != nil && restoreErr == nil {
			restoreErr = fmt.Errorf("restored, but starting it again failed: %w", err)
		}
	}
	return restoreErr
}

func hasSnapshot(ctx context.Context, sn Snapshotter, project, name, snap string) (bool, error) {
	snaps, err := sn.Snapshots(ctx, project, name)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(snaps, func(sp lxd.Snapshot) bool { return sp.Name == snap }), nil
}

// Clone makes a new container of user's from a snapshot of one of theirs,
// under their quota and with host ports of its own; in a cluster on host,
// or where placement chooses.
func (s *Service) Clone(ctx context.Context, user, name, snap, newName, host string) (Container, error) {
	if err := checkSnapName(snap); err != nil {
		return Container{}, err
	}
	src, err := s.Snapshots(ctx, user, name)
	if err != nil {
		return Container{}, err
	}
	found := false
	for _, si := range src {
		found = found || si.Name == snap
	}
	if !found {
		return Container{}, errorf(ErrNoSnapshot, name, "%s has no snapshot %q", name, snap)
	}
	r, err := s.lookup(ctx, user, name)
	if err != nil {
		return Container{}, err
	}
	if err := checkLease(r); err != nil {
		// Its GPUs went back to the lab; a clone with a fresh lease must
		// not bring them back.
		return Container{}, err
	}
	// The clone asks for the source's GPUs only where GPUs are shared,
	// through the same checks as a launch; exclusive ones belong to the
	// source, and the devices LXD's copy takes over are stripped.
	gpu := ""
	if r.GPUCount > 0 && s.conf().SharedGPUs {
		gpu = askedGPUs(r.GPUs)
	}
	return s.Create(ctx, user, CreateRequest{Name: newName, Image: r.Image, CPU: r.CPU, Memory: r.Memory, Disk: r.Disk,
		GPU: gpu, Host: host, copyOf: name + "/" + snap})
}

// askedGPUs turns recorded GPU keys back into a --gpu request.
func askedGPUs(recorded string) string {
	for _, k := range strings.Split(recorded, ",") {
		if k == "all" || strings.HasSuffix(k, "/all") {
			return "all"
		}
	}
	return recorded
}

var expiryRE = regexp.MustCompile(`^([0-9]+[MHdwmy])( [0-9]+[MHdwmy])*$`)

// AutoSnap sets LXD's own snapshot schedule on user's container: "daily",
// "hourly" or "off", with an expiry such as "7d" (LXD's format).
func (s *Service) AutoSnap(ctx context.Context, user, name, every, expiry string) error {
	sched := map[string]string{"daily": "@daily", "hourly": "@hourly", "off": ""}
	v, ok := sched[every]
	if !ok {
		return fmt.Errorf("schedule %q: use daily, hourly or off", every)
	}
	if expiry != "" && !expiryRE.MatchString(expiry) {
		return fmt.Errorf("expiry %q: write it like 7d, 2w or 12H", expiry)
	}
	pattern := "auto-{{ creation_date|date:'2006-01-02-1504' }}"
	if every == "off" {
		expiry, pattern = "", ""
	}
	sn := Snapshotter(s.lxd)
	_, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	return sn.SetConfig(ctx, s.Project(user), name, map[string]string{
		"snapshots.schedule": v, "snapshots.expiry": expiry, "snapshots.pattern": pattern,
	})
}
