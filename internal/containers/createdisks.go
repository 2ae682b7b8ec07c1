package containers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/mountpath"
	"github.com/lxcgate/lxcgate/internal/store"
)

// VolumeMount asks for a volume in a new container: --volume VOL[:PATH].
type VolumeMount struct {
	Name     string `json:"name"`
	Path     string `json:"path,omitempty"` // "": /mnt/NAME
	ReadOnly bool   `json:"readonly,omitempty"`
}

// personalVolume is the volume [volumes] personal mounts in every
// container of its owner.
const personalVolume = "home"

// planDisks decides a new container's volumes and datasets before anything
// exists: each volume is the user's and ready, each dataset one they may
// use whose source is on the container's member (host; "" on a single
// host), no two paths overlap. A clone gets
// none unless asked. req.Volumes come back with their paths filled in.
func (s *Service) planDisks(ctx context.Context, user, host string, req *CreateRequest) (map[string]lxd.Disk, error) {
	disks := map[string]lxd.Disk{}
	var paths []string
	add := func(dev string, d lxd.Disk) error {
		for _, p := range paths {
			if mountpath.Overlaps(p, d.Path) {
				return fmt.Errorf("two mounts would share %s; give one another path", d.Path)
			}
		}
		if _, dup := disks[dev]; dup {
			return fmt.Errorf("%s is asked for twice", d.Source)
		}
		paths, disks[dev] = append(paths, d.Path), d
		return nil
	}
	if err := s.planPersonal(ctx, user, host, req); err != nil {
		return nil, err
	}
	for i, m := range req.Volumes {
		d, err := s.volumeDisk(ctx, user, &m)
		if err != nil {
			return nil, err
		}
		req.Volumes[i] = m
		if err := add(volumeDevice(m.Name), d); err != nil {
			return nil, err
		}
	}
	for _, name := range s.datasetsFor(user, host, req) {
		d, err := s.datasetDisk(user, name, host)
		if err != nil {
			return nil, err
		}
		if err := add(datasetDevice(name), d); err != nil {
			return nil, err
		}
	}
	return disks, nil
}

// placeByVolumes sends a new container to the member its volumes live on
// (a member-local pool keeps a volume on one member); the placement's
// reason says so. Volumes on two members, or a --host elsewhere, are
// refused. The personal volume counts once it exists.
func (s *Service) placeByVolumes(ctx context.Context, user string, req *CreateRequest) error {
	names := make([]string, 0, len(req.Volumes)+1)
	for _, m := range req.Volumes {
		names = append(names, m.Name)
	}
	if s.conf().PersonalPath != "" && !contains(names, personalVolume) {
		names = append(names, personalVolume)
	}
	if len(names) == 0 || req.copyOf != "" {
		return nil
	}
	if ms, err := s.lxd.Members(ctx); err != nil || ms == nil {
		return err
	}
	lvs, err := s.lxdVolumes().Volumes(ctx, s.conf().VolumePool, s.volumeName(user, ""))
	if err != nil {
		return err
	}
	where := map[string]string{}
	for _, lv := range lvs {
		where[lv.Name] = lv.Location
	}
	for _, name := range names {
		loc := where[s.volumeName(user, name)]
		switch {
		case loc == "" || loc == req.Host:
		case req.Host == "":
			req.Host, req.hostFrom = loc, name
		default:
			return fmt.Errorf("volume %s lives on %s, not %s: a volume attaches only on its own member", name, loc, req.Host)
		}
	}
	return nil
}

// volumeDisk checks one --volume and returns its device.
func (s *Service) volumeDisk(ctx context.Context, user string, m *VolumeMount) (lxd.Disk, error) {
	v, err := s.lookupVolume(ctx, s.db, user, m.Name)
	if err != nil {
		return lxd.Disk{}, err
	}
	if m.Path == "" {
		m.Path = "/mnt/" + m.Name
	}
	p, err := mountpath.Check(m.Path)
	if err != nil {
		return lxd.Disk{}, err
	}
	if v.State != store.StateReady {
		return lxd.Disk{}, fmt.Errorf("volume %s is still being created; try again in a moment", m.Name)
	}
	m.Path = p
	return lxd.Disk{Pool: s.conf().VolumePool, Source: s.volumeName(user, m.Name), Path: p, ReadOnly: m.ReadOnly}, nil
}

// datasetsFor is the datasets a new container (a clone too) gets: those
// asked for, and the default ones the user may use (a default one whose
// source is missing, or that is not on the container's member, is left
// out, said in the progress, rather than stopping every launch).
func (s *Service) datasetsFor(user, host string, req *CreateRequest) []string {
	out := append([]string(nil), req.Datasets...)
	for name, d := range s.conf().Datasets {
		if !d.Default || !d.mayUse(user) || contains(out, name) {
			continue
		}
		if _, err := s.datasetDisk(user, name, host); err != nil {
			if req.Progress != nil {
				why := "its source is missing"
				if host != "" && len(d.Members) > 0 {
					why = "it is not on " + host
				}
				req.Progress("Dataset " + name + " left out: " + why)
			}
			continue
		}
		out = append(out, name)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// planPersonal adds the user's personal volume when [volumes] personal is
// set, making it with their first container, on its member (host).
func (s *Service) planPersonal(ctx context.Context, user, host string, req *CreateRequest) error {
	p := s.conf().PersonalPath
	if p == "" || req.copyOf != "" {
		return nil
	}
	for _, m := range req.Volumes {
		if m.Name == personalVolume {
			return nil
		}
	}
	_, err := s.lookupVolume(ctx, s.db, user, personalVolume)
	if errors.Is(err, ErrNoVolume) {
		if req.Progress != nil {
			req.Progress("Creating your volume " + personalVolume)
		}
		_, err = s.CreateVolumeOn(ctx, user, personalVolume, host, 0)
	}
	if err != nil {
		return fmt.Errorf("your volume %s: %w", personalVolume, err)
	}
	req.Volumes = append(req.Volumes, VolumeMount{Name: personalVolume, Path: p})
	return nil
}

// reserveMounts records a new container's attachments in its reservation's
// transaction: a volume deleted since planDisks is refused here.
func (s *Service) reserveMounts(ctx context.Context, q store.Querier, user string, id store.ContainerID, ms []VolumeMount) error {
	for _, m := range ms {
		v, err := s.lookupVolume(ctx, q, user, m.Name)
		if err != nil {
			return err
		}
		err = s.st.Volumes.Attach(ctx, q, store.Attachment{VolumeID: v.ID, ContainerID: id, Path: m.Path, ReadOnly: m.ReadOnly,
			State: store.AttachReady})
		if err != nil {
			return fmt.Errorf("attach volume %s: %w", m.Name, err)
		}
	}
	return nil
}

// dropCopiedDisks removes the volume and dataset devices a copy took over
// from its source's snapshot: a clone gets no attachments unless asked.
func (s *Service) dropCopiedDisks(ctx context.Context, user, name string, keep map[string]lxd.Disk) error {
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	if err != nil {
		return err
	}
	for dev := range in.Disks {
		if _, ok := keep[dev]; ok {
			continue
		}
		if err := s.lxd.RemoveDisk(ctx, s.Project(user), name, dev); err != nil {
			return fmt.Errorf("remove the copied device %s: %w", dev, err)
		}
	}
	return nil
}

// fitDisks holds an instance's volume and dataset devices to the books
// after a restore brought back the devices of the snapshot's time: a
// volume device without its attachment row goes, one whose row stands
// comes back, and a dataset the owner may no longer use (or whose source
// changed) goes.
func (s *Service) fitDisks(ctx context.Context, user, name string, id store.ContainerID) error {
	disks, _, err := s.lxd.Disks(ctx, s.Project(user), name)
	if err != nil {
		return err
	}
	as, err := s.st.Volumes.Attachments(ctx, s.db, user)
	if err != nil {
		return err
	}
	want := map[string]lxd.Disk{}
	for _, a := range as {
		if a.ContainerID == id && a.State != store.AttachDetaching {
			want[volumeDevice(a.Volume)] = lxd.Disk{Pool: s.conf().VolumePool, Source: s.volumeName(user, a.Volume), Path: a.Path, ReadOnly: a.ReadOnly}
		}
	}
	for dev, d := range disks {
		if ds, ok := strings.CutPrefix(dev, "ds."); ok {
			conf, known := s.conf().Datasets[ds]
			if known && conf.mayUse(user) && conf.Source == d.Source {
				continue
			}
		} else if w, ok := want[dev]; ok && w == d {
			delete(want, dev)
			continue
		}
		if err := s.lxd.RemoveDisk(ctx, s.Project(user), name, dev); err != nil {
			return fmt.Errorf("remove device %s: %w", dev, err)
		}
	}
	for dev, d := range want {
		if err := s.lxd.SetDisk(ctx, s.Project(user), name, dev, d); err != nil {
			return fmt.Errorf("put back device %s: %w", dev, err)
		}
	}
	return nil
}
