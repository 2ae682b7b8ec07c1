package containers

import (
	"context"
	"errors"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
)

// reconcileVolumes makes volume rows, attachment rows, LXD's volumes and
// the instances' volume devices agree after a kill or a lost database, as
// Reconcile does for containers. Each failure is logged and tried again at
// the next reconcile.
func (s *Service) reconcileVolumes(ctx context.Context) {
	pool := s.conf().VolumePool
	if pool == "" {
		return
	}
	lvs, err := s.lxdVolumes().Volumes(ctx, pool, s.conf().Prefix)
	if err != nil {
		s.log.Error("reconcile: listing volumes failed", "err", err)
		return
	}
	rows, err := s.st.Volumes.List(ctx, s.db, "")
	if err != nil {
		s.log.Error("reconcile: reading volumes failed", "err", err)
		return
	}
	inLXD := map[string]lxd.Volume{}
	for _, v := range lvs {
		inLXD[v.Name] = v
	}
	known := map[string]bool{}
	for _, r := range rows {
		lname := s.volumeName(r.Owner, r.Name)
		known[lname] = true
		// A volume held is in the middle of an operation that outlives the
		// service's hold (an import's stream): its row is not a leftover.
		unlock, free := s.boxes.tryLock(volumeKey(r.Owner, r.Name))
		if !free {
			continue
		}
		lv, ok := inLXD[lname]
		s.settleVolume(ctx, r, lv, ok)
		unlock()
	}
	for _, lv := range lvs {
		if !known[lv.Name] {
			s.adoptVolume(ctx, lv)
		}
	}
	ins, err := s.lxd.List(ctx, "")
	if err != nil {
		s.log.Error("reconcile: listing instances for their volumes failed", "err", err)
		return
	}
	s.reconcileAttachments(ctx, ins)
}

// settleVolume brings one volume row and LXD's volume into agreement.
func (s *Service) settleVolume(ctx context.Context, r store.Volume, lv lxd.Volume, exists bool) {
	log := s.log.With("owner", r.Owner, "volume", r.Name)
	drop := func(what string) {
		if err := s.dropVolumeRow(ctx, r); err != nil {
			log.Error("reconcile: dropping a volume row failed", "err", err)
			return
		}
		log.Warn("reconcile: " + what)
	}
	switch {
	case r.State == store.StateDeleting:
		if exists {
			if err := s.lxdVolumes().DeleteVolume(ctx, s.conf().VolumePool, lv.Name); err != nil && !errors.Is(err, lxd.ErrNotFound) {
				log.Error("reconcile: finishing a volume delete failed", "err", err)
				return
			}
		}
		drop("finished an interrupted volume delete")
	case !exists:
		drop("dropped a volume row whose LXD volume is gone (state " + r.State + ")")
	case r.State == store.StateCreating:
		if err := s.lxdVolumes().SetVolumeOwner(ctx, s.conf().VolumePool, lv.Name, r.Owner); err != nil {
			log.Error("reconcile: recording a volume's owner failed", "err", err)
			return
		}
		if err := s.st.Volumes.SetState(ctx, s.db, r.ID, store.StateReady); err != nil {
			log.Error("reconcile: keeping a volume whose create was interrupted failed", "err", err)
			return
		}
		log.Info("reconcile: kept a volume whose create was interrupted")
	case lv.Size > 0 && lv.Size != r.Size:
		// An interrupted resize: LXD's size is the truth.
		if err := s.st.Volumes.SetSize(ctx, s.db, r.ID, lv.Size); err != nil {
			log.Error("reconcile: taking LXD's volume size failed", "err", err)
		}
	}
}

// dropVolumeRow removes a volume row and its attachments in one step.
func (s *Service) dropVolumeRow(ctx context.Context, r store.Volume) error {
	return store.Tx(ctx, s.db, func(q store.Querier) error {
		as, err := s.st.Volumes.Attachments(ctx, q, r.Owner)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a.VolumeID == r.ID {
				if err := s.st.Volumes.Detach(ctx, q, a.VolumeID, a.ContainerID); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
		if err := s.st.Volumes.Delete(ctx, q, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
}

// adoptVolume records a volume found in LXD without a row: only when its
// name and its owner key agree on a user the database knows.
func (s *Service) adoptVolume(ctx context.Context, lv lxd.Volume) {
	owner, name, ok := s.volumeOwner(lv.Name)
	if !ok || lv.Owner != owner {
		s.log.Warn("reconcile: a volume whose name and owner key disagree is left alone", "volume", lv.Name, "owner_key", lv.Owner)
		return
	}
	uid, err := s.st.Users.ID(ctx, s.db, owner)
	if err != nil {
		s.log.Warn("reconcile: a volume of an unknown user is left alone", "volume", lv.Name, "err", err)
		return
	}
	_, err = s.st.Volumes.Insert(ctx, s.db, store.Volume{UserID: uid, Name: name, Size: lv.Size, State: store.StateReady, Created: lv.Created})
	if err != nil {
		s.log.Error("reconcile: adopting a volume failed", "volume", lv.Name, "err", err)
		return
	}
	s.log.Info("reconcile: adopted a volume without a row", "owner", owner, "volume", name)
}

// reconcileAttachments settles interrupted attaches and detaches, adopts
// the devices of a lost database, and removes a volume device that names
// anything but its container owner's own volume.
func (s *Service) reconcileAttachments(ctx context.Context, ins []lxd.Instance) {
	as, err := s.st.Volumes.Attachments(ctx, s.db, "")
	if err != nil {
		s.log.Error("reconcile: reading attachments failed", "err", err)
		return
	}
	byInst := map[string]lxd.Instance{}
	for _, in := range ins {
		byInst[in.Project+"/"+in.Name] = in
	}
	recorded := map[string]bool{}
	for _, a := range as {
		key := s.Project(a.Owner) + "/" + a.Container
		recorded[key+"/"+volumeDevice(a.Volume)] = true
		in, ok := byInst[key]
		if !ok || in.Offline != "" {
			continue // the container's own reconcile drops its row and, with it, these
		}
		s.settleAttachment(ctx, a, in)
	}
	for _, in := range ins {
		owner, mine := s.owner(in.Project)
		if !mine || in.Offline != "" {
			continue
		}
		for dev, d := range in.Disks {
			name, isVol := strings.CutPrefix(dev, "vol.")
			if isVol && !recorded[in.Project+"/"+in.Name+"/"+dev] {
				s.adoptAttachment(ctx, owner, in, name, d)
			}
		}
	}
}

// settleAttachment finishes one attachment row's interrupted change.
func (s *Service) settleAttachment(ctx context.Context, a store.Attachment, in lxd.Instance) {
	dev := volumeDevice(a.Volume)
	_, has := in.Disks[dev]
	log := s.log.With("owner", a.Owner, "volume", a.Volume, "container", a.Container)
	switch {
	case a.State == store.AttachDetaching || (a.State == store.AttachAttaching && !has):
		if has {
			if err := s.lxd.RemoveDisk(ctx, in.Project, in.Name, dev); err != nil {
				log.Error("reconcile: finishing a detach failed", "err", err)
				return
			}
		}
		if err := s.st.Volumes.Detach(ctx, s.db, a.VolumeID, a.ContainerID); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Error("reconcile: dropping an attachment failed", "err", err)
			return
		}
		log.Info("reconcile: settled an interrupted attach or detach")
	case a.State == store.AttachAttaching:
		if err := s.st.Volumes.SetAttachState(ctx, s.db, a.VolumeID, a.ContainerID, store.AttachReady); err != nil {
			log.Error("reconcile: keeping an interrupted attach failed", "err", err)
		}
	case !has:
		// A restore brought back the devices of the snapshot's time: the
		// books say the volume is attached.
		disk := lxd.Disk{Pool: s.conf().VolumePool, Source: s.volumeName(a.Owner, a.Volume), Path: a.Path, ReadOnly: a.ReadOnly}
		if err := s.lxd.SetDisk(ctx, in.Project, in.Name, dev, disk); err != nil {
			log.Error("reconcile: putting back a volume device failed", "err", err)
		}
	}
}

// adoptAttachment records a volume device found without a row, or removes
// it when it names anything but the owner's own volume.
func (s *Service) adoptAttachment(ctx context.Context, owner string, in lxd.Instance, name string, d lxd.Disk) {
	log := s.log.With("owner", owner, "container", in.Name, "device", volumeDevice(name))
	remove := func(why string) {
		if err := s.lxd.RemoveDisk(ctx, in.Project, in.Name, volumeDevice(name)); err != nil {
			log.Error("reconcile: removing a volume device failed", "err", err)
			return
		}
		log.Warn("reconcile: removed a volume device: " + why)
	}
	if d.Pool != s.conf().VolumePool || d.Source != s.volumeName(owner, name) {
		remove("it names a volume that is not its owner's")
		return
	}
	v, err := s.lookupVolume(ctx, s.db, owner, name)
	if err != nil {
		remove("no such volume")
		return
	}
	r, err := s.lookup(ctx, owner, in.Name)
	if err != nil {
		return // the container's reconcile adopts it first; next time
	}
	err = s.st.Volumes.Attach(ctx, s.db, store.Attachment{VolumeID: v.ID, ContainerID: r.ID, Path: d.Path, ReadOnly: d.ReadOnly,
		State: store.AttachReady})
	if err != nil {
		log.Error("reconcile: adopting an attachment failed", "err", err)
		return
	}
	log.Info("reconcile: adopted a volume attachment")
}
