package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lxcgate/lxcgate/internal/failpoint"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/units"
)

// VolumeData is what volume snapshots, export and import need of LXD.
type VolumeData interface {
	SnapshotVolume(ctx context.Context, pool, name, snap string) error
	VolumeSnapshots(ctx context.Context, pool, name string) ([]lxd.Snapshot, error)
	DeleteVolumeSnapshot(ctx context.Context, pool, name, snap string) error
	RestoreVolume(ctx context.Context, pool, name, snap string) error
	ExportVolume(ctx context.Context, pool, name string, w io.Writer) (int64, error)
	ImportVolume(ctx context.Context, pool, name string, r io.Reader) error
}

// SnapshotVolume snapshots user's volume, named snap or by the time,
// pinned with keep, then prunes its oldest unpinned snapshots beyond the
// configured history: the container snapshots' rules. Volume snapshots
// count towards the snapshots quota beside the containers'.
func (s *Service) SnapshotVolume(ctx context.Context, user, name, snap string, keep bool) (string, []string, error) {
	if snap == "" {
		snap = "snap-" + time.Now().UTC().Format("20060102-150405")
	}
	if err := checkSnapName(snap); err != nil {
		return "", nil, err
	}
	v, release, err := s.holdVolume(ctx, user, name)
	if err != nil {
		return "", nil, err
	}
	defer release.volume()
	if err := s.checkSnapshotQuota(ctx, user); err != nil {
		return "", nil, err
	}
	pool, lname := s.conf().VolumePool, s.volumeName(user, name)
	ctx = context.WithoutCancel(ctx)
	if err := s.lxdVolumes().SnapshotVolume(ctx, pool, lname, snap); err != nil {
		if errors.Is(err, lxd.ErrExists) {
			return "", nil, fmt.Errorf("volume %s already has a snapshot %q", name, snap)
		}
		return "", nil, fmt.Errorf("snapshot volume %s: %w", name, err)
	}
	failpoint.Hit("volume-snapshot:taken")
	if keep {
		if err := s.st.Volumes.Pin(ctx, s.db, v.ID, snap); err != nil {
			return snap, nil, fmt.Errorf("snapshot %s taken, but pinning failed: %w", snap, err)
		}
	}
	list, err := s.volumeSnapshotInfo(ctx, v)
	if err != nil {
		return snap, nil, err
	}
	var unpinned []SnapshotInfo
	for _, si := range list {
		if !si.Pinned {
			unpinned = append(unpinned, si)
		}
	}
	var pruned []string
	for i := 0; i < len(unpinned)-s.conf().SnapshotKeep; i++ {
		if err := s.lxdVolumes().DeleteVolumeSnapshot(ctx, pool, lname, unpinned[i].Name); err != nil {
			return snap, pruned, fmt.Errorf("prune %s: %w", unpinned[i].Name, err)
		}
		pruned = append(pruned, unpinned[i].Name)
	}
	return snap, pruned, nil
}

// checkSnapshotQuota counts every snapshot of the user's containers and
// volumes against the snapshots quota.
func (s *Service) checkSnapshotQuota(ctx context.Context, user string) error {
	q, _, err := s.Quota(ctx, user)
	if err != nil {
		return err
	}
	total := 0
	ins, err := s.lxd.List(ctx, s.Project(user))
	if err != nil && !errors.Is(err, lxd.ErrProjectMissing) {
		return err
	}
	for _, in := range ins {
		total += in.Snapshots
	}
	vs, err := s.st.Volumes.List(ctx, s.db, user)
	if err != nil {
		return err
	}
	for _, v := range vs {
		snaps, err := s.lxdVolumes().VolumeSnapshots(ctx, s.conf().VolumePool, s.volumeName(user, v.Name))
		if err == nil {
			total += len(snaps)
		}
	}
	if total+1 > q.Snapshots {
		return fmt.Errorf("%w: snapshots would be %d, your limit is %d; delete some first", ErrQuota, total+1, q.Snapshots)
	}
	return nil
}

func (s *Service) volumeSnapshotInfo(ctx context.Context, v store.Volume) ([]SnapshotInfo, error) {
	snaps, err := s.lxdVolumes().VolumeSnapshots(ctx, s.conf().VolumePool, s.volumeName(v.Owner, v.Name))
	if err != nil {
		return nil, err
	}
	pinned, err := s.st.Volumes.Pins(ctx, s.db, v.ID)
	if err != nil {
		return nil, fmt.Errorf("pins of volume %s: %w", v.Name, err)
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
	for stale := range pins { // a pin must not outlive its snapshot
		if err := s.st.Volumes.Unpin(ctx, s.db, v.ID, stale); err != nil {
			s.log.Error("dropping a stale volume pin failed", "user", v.Owner, "volume", v.Name, "snapshot", stale, "err", err)
		}
	}
	return out, nil
}

// VolumeSnapshots lists user's volume's snapshots, oldest first.
func (s *Service) VolumeSnapshots(ctx context.Context, user, name string) ([]SnapshotInfo, error) {
	v, err := s.lookupVolume(ctx, s.db, user, name)
	if err != nil {
		return nil, err
	}
	return s.volumeSnapshotInfo(ctx, v)
}

// RestoreVolume rolls user's volume back to snap. LXD refuses while a
// running container uses it; the user detaches or stops it first.
func (s *Service) RestoreVolume(ctx context.Context, user, name, snap string) error {
	if err := checkSnapName(snap); err != nil {
		return err
	}
	_, release, err := s.holdVolume(ctx, user, name)
	if err != nil {
		return err
	}
	defer release.volume()
	err = s.lxdVolumes().RestoreVolume(context.WithoutCancel(ctx), s.conf().VolumePool, s.volumeName(user, name), snap)
	switch {
	case errors.Is(err, lxd.ErrNotFound):
		return errorf(ErrNoSnapshot, name, "volume %s has no snapshot %q", name, snap)
	case errors.Is(err, lxd.ErrInUse) || errors.Is(err, lxd.ErrRunning):
		return fmt.Errorf("volume %s is in use by a running container; stop it or detach the volume first", name)
	case err != nil:
		return fmt.Errorf("restore volume %s: %w", name, err)
	}
	return nil
}

// ExportVolume streams a tarball of user's volume to w (LXD's backup
// format, gzip'd), never holding it in memory. The stream may take long:
// it holds the volume (a delete or resize waits) but not the service, so
// reconciles and other users' work go on.
func (s *Service) ExportVolume(ctx context.Context, user, name string, w io.Writer) (int64, error) {
	_, release, err := s.holdVolume(ctx, user, name)
	if err != nil {
		return 0, err
	}
	defer release.volume()
	release.service()
	n, err := s.lxdVolumes().ExportVolume(ctx, s.conf().VolumePool, s.volumeName(user, name), w)
	if err != nil {
		return n, fmt.Errorf("export volume %s: %w", name, err)
	}
	return n, nil
}

// ImportVolume makes user's new volume name from a tarball read from r,
// as 'volume export' writes. It is reserved like a create (at the
// configured default size; the books then take the tarball's), and its
// owner is the importer whatever the tarball says.
func (s *Service) ImportVolume(ctx context.Context, user, name string, r io.Reader) (Volume, error) {
	if err := ValidVolumeName(name); err != nil {
		return Volume{}, err
	}
	size := s.conf().VolumeDefaultSize
	// The service is held for the reservation only: the stream may take
	// long. The volume stays held, so that a reconcile leaves its row
	// alone (see settleVolume).
	s.busy.RLock()
	unlock := s.boxes.lock(volumeKey(user, name))
	defer unlock()
	id, err := s.reserveVolume(ctx, user, name, size)
	s.busy.RUnlock()
	if err != nil {
		return Volume{}, err
	}
	failpoint.Hit("volume-import:reserved")
	pool, lname := s.conf().VolumePool, s.volumeName(user, name)
	var capped *cappedReader
	if c := s.importCap(ctx, user, size); c > 0 {
		capped = &cappedReader{r: r, left: c, max: c}
		r = capped
	}
	if err := s.lxdVolumes().ImportVolume(ctx, pool, lname, r); err != nil {
		if capped != nil && capped.left < 0 {
			err = capped.tooLarge() // LXD's client reports a failed upload in its own words
		}
		if derr := s.st.Volumes.DeleteReservation(context.WithoutCancel(ctx), s.db, id); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			s.log.Error("dropping an import's reservation failed; reconcile will", "user", user, "volume", name, "err", derr)
		}
		return Volume{}, fmt.Errorf("import volume %s: %w", name, err)
	}
	ctx = context.WithoutCancel(ctx)
	failpoint.Hit("volume-import:made")
	if err := s.lxdVolumes().SetVolumeOwner(ctx, pool, lname, user); err != nil {
		s.log.Error("recording an imported volume's owner failed; the next reconcile does", "user", user, "volume", name, "err", err)
	}
	if err := s.fitImported(ctx, user, name, id, size); err != nil {
		return Volume{}, err
	}
	if err := s.st.Volumes.SetState(ctx, s.db, id, store.StateReady); err != nil {
		s.log.Error("marking an imported volume ready failed; reconcile keeps it", "user", user, "volume", name, "err", err)
	}
	return s.GetVolume(ctx, user, name)
}

// fitImported holds an imported volume to the books: one whose tarball
// set no size gets the size reserved; a larger one must fit the disk
// quota (or it is deleted again); a smaller one gives the rest back.
func (s *Service) fitImported(ctx context.Context, user, name string, id store.VolumeID, reserved int64) error {
	pool, lname := s.conf().VolumePool, s.volumeName(user, name)
	lvs, err := s.lxdVolumes().Volumes(ctx, pool, lname)
	if err != nil {
		return fmt.Errorf("import volume %s: %w", name, err)
	}
	var size int64
	for _, lv := range lvs {
		if lv.Name == lname {
			size = lv.Size
		}
	}
	switch {
	case size == 0:
		if err := s.lxdVolumes().ResizeVolume(ctx, pool, lname, reserved); err != nil {
			return s.undoImport(ctx, user, name, id, fmt.Errorf("import volume %s: setting its size: %w", name, err))
		}
		return nil
	case size == reserved:
		return nil
	}
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		uid, err := s.userID(ctx, q, user)
		if err != nil {
			return err
		}
		quota, use, err := s.quotaOf(ctx, q, uid)
		if err != nil {
			return err
		}
		if size > reserved {
			if err := checkVolumeQuota(quota, use, 0, size-reserved); err != nil {
				return err
			}
		}
		return s.st.Volumes.SetSize(ctx, q, id, size)
	})
	if err != nil {
		return s.undoImport(ctx, user, name, id, fmt.Errorf("import volume %s (%s): %w", name, units.FormatSize(size), err))
	}
	return nil
}

// undoImport deletes an imported volume the books cannot take, and its
// reservation; a failure is left to reconcile.
func (s *Service) undoImport(ctx context.Context, user, name string, id store.VolumeID, cause error) error {
	if err := s.lxdVolumes().DeleteVolume(ctx, s.conf().VolumePool, s.volumeName(user, name)); err != nil && !errors.Is(err, lxd.ErrNotFound) {
		s.log.Error("deleting a refused import failed; reconcile keeps it", "user", user, "volume", name, "err", err)
		return cause
	}
	if err := s.st.Volumes.DeleteReservation(ctx, s.db, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("dropping a refused import's reservation failed; reconcile will", "user", user, "volume", name, "err", err)
	}
	return fmt.Errorf("%w; nothing was kept", cause)
}
