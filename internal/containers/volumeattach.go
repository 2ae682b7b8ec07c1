package containers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lxcgate/lxcgate/internal/failpoint"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/mountpath"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/units"
)

// AttachVolume attaches user's volume to user's container at path ("":
// /mnt/NAME), live where it runs. The attachment is recorded first
// ("attaching"), then the device added, then marked ready: reconcile
// settles a kill in between.
func (s *Service) AttachVolume(ctx context.Context, user, name, container, path string, readOnly bool) (Attachment, error) {
	v, releaseVol, err := s.holdVolume(ctx, user, name) // the name first: a stranger's is "no such volume"
	if err != nil {
		return Attachment{}, err
	}
	defer releaseVol.volume()
	if path == "" {
		path = "/mnt/" + name
	}
	if path, err = mountpath.Check(path); err != nil {
		return Attachment{}, err
	}
	r, release, err := s.holdNested(ctx, user, container)
	if err != nil {
		return Attachment{}, err
	}
	defer release()
	disks, member, err := s.lxd.Disks(ctx, s.Project(user), container)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %s: %w", name, err)
	}
	if err := checkFree(disks, container, name, path); err != nil {
		return Attachment{}, err
	}
	if err := s.sameMember(ctx, v, container, member); err != nil {
		return Attachment{}, err
	}
	a := store.Attachment{VolumeID: v.ID, ContainerID: r.ID, Path: path, ReadOnly: readOnly, State: store.AttachAttaching}
	if err := s.st.Volumes.Attach(ctx, s.db, a); err != nil {
		if errors.Is(err, store.ErrUnique) {
			return Attachment{}, fmt.Errorf("volume %s is already attached to %s, or %s already uses %s", name, container, container, path)
		}
		return Attachment{}, fmt.Errorf("attach %s: %w", name, err)
	}
	failpoint.Hit("volume-attach:recorded")
	ctx = context.WithoutCancel(ctx)
	disk := lxd.Disk{Pool: s.conf().VolumePool, Source: s.volumeName(user, name), Path: path, ReadOnly: readOnly}
	if err := s.lxd.SetDisk(ctx, s.Project(user), container, volumeDevice(name), disk); err != nil {
		if derr := s.st.Volumes.Detach(ctx, s.db, v.ID, r.ID); derr != nil {
			s.log.Error("dropping a failed attachment failed; reconcile will", "user", user, "volume", name, "err", derr)
		}
		return Attachment{}, fmt.Errorf("attach %s to %s: %w", name, container, err)
	}
	failpoint.Hit("volume-attach:made")
	if err := s.st.Volumes.SetAttachState(ctx, s.db, v.ID, r.ID, store.AttachReady); err != nil {
		s.log.Error("marking an attachment ready failed; reconcile will", "user", user, "volume", name, "err", err)
	}
	return Attachment{Container: container, Path: path, ReadOnly: readOnly}, nil
}

// holdNested holds a container for an operation that already holds the
// busy lock shared (through a volume's hold): it takes the container's own
// lock only.
func (s *Service) holdNested(ctx context.Context, user, name string) (_ row, _ func(), err error) {
	unlock := s.boxes.lock(user + "/" + name)
	defer releaseUnless(&err, unlock)
	r, err := s.lookup(ctx, user, name)
	if err == nil && r.State == store.StateCreating {
		err = fmt.Errorf("%s is still being created; try again in a moment", name)
	}
	if err != nil {
		return row{}, nil, err
	}
	return r, unlock, nil
}

// checkFree refuses a path another disk of the container uses, or a
// volume it already has.
func checkFree(disks map[string]lxd.Disk, container, name, path string) error {
	if _, ok := disks[volumeDevice(name)]; ok {
		return fmt.Errorf("volume %s is already attached to %s", name, container)
	}
	for dev, d := range disks {
		if mountpath.Overlaps(d.Path, path) {
			what := strings.TrimPrefix(strings.TrimPrefix(dev, "vol."), "ds.")
			return fmt.Errorf("%s already has %s mounted at %s; pick another path", container, what, d.Path)
		}
	}
	return nil
}

// sameMember refuses to attach across cluster members: a volume on a
// member-local pool lives on one.
func (s *Service) sameMember(ctx context.Context, v store.Volume, container, member string) error {
	if member == "" {
		return nil
	}
	vs, err := s.lxdVolumes().Volumes(ctx, s.conf().VolumePool, s.volumeName(v.Owner, v.Name))
	if err != nil {
		return err
	}
	for _, lv := range vs {
		if lv.Name == s.volumeName(v.Owner, v.Name) && lv.Location != "" && lv.Location != member {
			return fmt.Errorf("volume %s is on %s and %s on %s: a volume attaches only on its own member", v.Name, lv.Location, container, member)
		}
	}
	return nil
}

// DetachVolume detaches user's volume from user's container, live.
func (s *Service) DetachVolume(ctx context.Context, user, name, container string) error {
	v, releaseVol, err := s.holdVolume(ctx, user, name)
	if err != nil {
		return err
	}
	defer releaseVol.volume()
	r, release, err := s.holdNested(ctx, user, container)
	if err != nil {
		return err
	}
	defer release()
	err = s.st.Volumes.SetAttachState(ctx, s.db, v.ID, r.ID, store.AttachDetaching)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("volume %s is not attached to %s", name, container)
	}
	if err != nil {
		return fmt.Errorf("detach %s: %w", name, err)
	}
	failpoint.Hit("volume-detach:marked")
	ctx = context.WithoutCancel(ctx)
	if err := s.lxd.RemoveDisk(ctx, s.Project(user), container, volumeDevice(name)); err != nil && !errors.Is(err, lxd.ErrNotFound) {
		if serr := s.st.Volumes.SetAttachState(ctx, s.db, v.ID, r.ID, store.AttachReady); serr != nil {
			s.log.Error("detach failed and the attachment could not be marked again; reconcile finishes it", "user", user, "volume", name, "err", serr)
		}
		return fmt.Errorf("detach %s from %s: %w", name, container, err)
	}
	failpoint.Hit("volume-detach:removed")
	if err := s.st.Volumes.Detach(ctx, s.db, v.ID, r.ID); err != nil {
		s.log.Error("dropping a detached attachment failed; reconcile will", "user", user, "volume", name, "err", err)
	}
	return nil
}

// ResizeVolume grows user's volume to size; a volume never shrinks. The
// new size is reserved under the disk quota first; a failure in LXD gives
// it back, and reconcile takes LXD's size after a kill.
func (s *Service) ResizeVolume(ctx context.Context, user, name string, size int64) error {
	v, release, err := s.holdVolume(ctx, user, name)
	if err != nil {
		return err
	}
	defer release.volume()
	if size <= v.Size {
		return fmt.Errorf("volume %s is %s; it can only grow (a volume never shrinks)", name, units.FormatSize(v.Size))
	}
	if c := s.conf(); c.VolumeMaxSize > 0 && size > c.VolumeMaxSize {
		return fmt.Errorf("size %s: at most %s for one volume", units.FormatSize(size), units.FormatSize(c.VolumeMaxSize))
	}
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		quota, use, err := s.quotaOf(ctx, q, v.UserID)
		if err != nil {
			return err
		}
		if err := checkVolumeQuota(quota, use, 0, size-v.Size); err != nil {
			return err
		}
		return s.st.Volumes.SetSize(ctx, q, v.ID, size)
	})
	if err != nil {
		return err
	}
	failpoint.Hit("volume-resize:reserved")
	ctx = context.WithoutCancel(ctx)
	if err := s.lxdVolumes().ResizeVolume(ctx, s.conf().VolumePool, s.volumeName(user, name), size); err != nil {
		if serr := s.st.Volumes.SetSize(ctx, s.db, v.ID, v.Size); serr != nil {
			s.log.Error("giving back a failed resize failed; reconcile takes LXD's size", "user", user, "volume", name, "err", serr)
		}
		return fmt.Errorf("resize %s: %w", name, err)
	}
	return nil
}

// DeleteVolume deletes user's volume and its snapshots; refused while it
// is attached anywhere.
func (s *Service) DeleteVolume(ctx context.Context, user, name string) error {
	v, release, err := s.holdVolume(ctx, user, name)
	if err != nil {
		return err
	}
	defer release.volume()
	if err := s.refuseAttached(ctx, v); err != nil {
		return err
	}
	if err := s.st.Volumes.SetState(ctx, s.db, v.ID, store.StateDeleting); err != nil {
		return fmt.Errorf("delete volume %s: %w", name, err)
	}
	failpoint.Hit("volume-delete:marked")
	ctx = context.WithoutCancel(ctx)
	if err := s.lxdVolumes().DeleteVolume(ctx, s.conf().VolumePool, s.volumeName(user, name)); err != nil && !errors.Is(err, lxd.ErrNotFound) {
		if serr := s.st.Volumes.SetState(ctx, s.db, v.ID, store.StateReady); serr != nil {
			s.log.Error("delete failed in LXD and the volume could not be marked ready; reconcile finishes the delete", "user", user, "volume", name, "err", serr)
		}
		if errors.Is(err, lxd.ErrInUse) {
			return errorf(ErrAttached, name, "volume %s is in use by a container; detach it first", name)
		}
		return fmt.Errorf("delete volume %s: %w", name, err)
	}
	failpoint.Hit("volume-delete:gone")
	if err := s.st.Volumes.Delete(ctx, s.db, v.ID); err != nil {
		s.log.Error("dropping a deleted volume's row failed; reconcile will", "user", user, "volume", name, "err", err)
	}
	return nil
}

// refuseAttached names where a volume is attached, if anywhere.
func (s *Service) refuseAttached(ctx context.Context, v store.Volume) error {
	as, err := s.st.Volumes.Attachments(ctx, s.db, v.Owner)
	if err != nil {
		return fmt.Errorf("volume %s: %w", v.Name, err)
	}
	for _, a := range as {
		if a.VolumeID == v.ID {
			return errorf(ErrAttached, v.Name, "volume %s is attached to %s at %s; detach it first ('volume detach %s %s')",
				v.Name, a.Container, a.Path, v.Name, a.Container)
		}
	}
	return nil
}
