package containers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/failpoint"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Volume errors callers match with errors.Is.
var (
	// ErrNoVolume is the one answer for a volume that does not exist and
	// for one that belongs to someone else.
	ErrNoVolume = errors.New("no such volume")
	// ErrAttached: the volume is attached and the operation needs it not.
	ErrAttached = errors.New("volume is attached")
	// ErrBadVolumeName refuses a volume name.
	ErrBadVolumeName = errors.New("invalid volume name")
)

// Volumer is what volumes need of LXD; lxd.Client and lxdtest.Fake
// satisfy it.
type Volumer interface {
	CreateVolume(ctx context.Context, pool, name string, size int64, owner, target string) error
	Volumes(ctx context.Context, pool, prefix string) ([]lxd.Volume, error)
	VolumeUsed(ctx context.Context, pool, name string) (int64, error)
	ResizeVolume(ctx context.Context, pool, name string, size int64) error
	SetVolumeOwner(ctx context.Context, pool, name, owner string) error
	DeleteVolume(ctx context.Context, pool, name string) error
	// Disks reads an instance's volume and dataset devices and its member.
	Disks(ctx context.Context, project, name string) (map[string]lxd.Disk, string, error)
	SetDisk(ctx context.Context, project, name, device string, d lxd.Disk) error
	RemoveDisk(ctx context.Context, project, name, device string) error
	VolumeData
}

// Volume is a user's volume as 'volume list' shows it. The JSON keys are
// stable.
type Volume struct {
	Name    string    `json:"name"`
	Owner   string    `json:"owner"`
	Size    int64     `json:"size"`
	Used    int64     `json:"used"` // -1: the storage driver does not say
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	// Attached lists where it is attached, by container.
	Attached []Attachment `json:"attached"`
	// Host is the cluster member it was made on; only 'volume create'
	// fills it in (empty on a single host).
	Host string `json:"host,omitempty"`
}

// Attachment is one container a volume is attached to.
type Attachment struct {
	Container string `json:"container"`
	Path      string `json:"path"`
	ReadOnly  bool   `json:"readonly"`
}

// volumeName is a volume's name in LXD. Users' projects are made with
// features.storage.volumes=false (LXD cannot change that on a project that
// holds instances), so their custom volumes live in the default project,
// which every such project reads. What keeps tenants apart is that only
// the gateway speaks to LXD, and it makes every LXD name from the caller's
// own name: PREFIX + owner + "." + name. Neither a user name nor a volume
// name may hold a '.', so no (owner, name) pair spells another's volume,
// and the prefix keeps another gateway's volumes (or hand-made ones) out
// of sight. The owner is also kept in the volume's config (lxd.OwnerKey):
// adoption after a lost database needs name and key to agree.
func (s *Service) volumeName(owner, name string) string {
	return s.conf().Prefix + owner + "." + name
}

// volumeOwner splits an LXD volume name made by volumeName.
func (s *Service) volumeOwner(lxdName string) (owner, name string, ok bool) {
	rest, ok := strings.CutPrefix(lxdName, s.conf().Prefix)
	if !ok {
		return "", "", false
	}
	owner, name, ok = strings.Cut(rest, ".")
	return owner, name, ok && owner != "" && ValidVolumeName(name) == nil
}

// volumeDevice is the device name of a volume's attachment: '.' appears
// in no volume name, so it never meets the gateway's other devices.
func volumeDevice(name string) string { return "vol." + name }

// ValidVolumeName holds volume names to container names' rules, a little
// shorter so that the device name fits LXD's 63 characters.
func ValidVolumeName(name string) error {
	if strings.Contains(name, "_") || !nameRE.MatchString(name) || len(name) > 59 {
		return fmt.Errorf("%w %q: use 1-59 letters, digits and '-', starting with a letter and not ending with '-'", ErrBadVolumeName, name)
	}
	return nil
}

func (s *Service) lxdVolumes() Volumer { return s.lxd }

// lookupVolume finds user's volume; another user's is ErrNoVolume too.
func (s *Service) lookupVolume(ctx context.Context, q store.Querier, user, name string) (store.Volume, error) {
	if ValidVolumeName(name) != nil {
		return store.Volume{}, errorf(ErrNoVolume, name, "no such volume %q", name)
	}
	v, err := s.st.Volumes.Get(ctx, q, user, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Volume{}, errorf(ErrNoVolume, name, "no such volume %q", name)
	}
	if err != nil {
		return store.Volume{}, fmt.Errorf("look up volume %s: %w", name, err)
	}
	return v, nil
}

// volumeKey is a volume's key among the per-object locks.
func volumeKey(user, name string) string { return "volume:" + user + "/" + name }

// held releases a volume's hold: service() lets the service go early (for
// a long stream), volume() ends it.
type held struct {
	svc, vol func()
	once     bool
}

func (h *held) service() {
	if !h.once {
		h.once = true
		h.svc()
	}
}

func (h *held) volume() { h.service(); h.vol() }

// holdVolume looks up user's ready volume and holds it, and the service
// shared, for one operation; release.volume() must be called.
func (s *Service) holdVolume(ctx context.Context, user, name string) (_ store.Volume, _ *held, err error) {
	s.busy.RLock()
	h := &held{svc: s.busy.RUnlock, vol: s.boxes.lock(volumeKey(user, name))}
	defer releaseUnless(&err, h.volume)
	v, err := s.lookupVolume(ctx, s.db, user, name)
	if err == nil && v.State == store.StateCreating {
		err = fmt.Errorf("volume %s is still being created; try again in a moment", name)
	}
	if err != nil {
		return store.Volume{}, nil, err
	}
	return v, h, nil
}

// CreateVolume makes a volume of user's where placement chooses.
func (s *Service) CreateVolume(ctx context.Context, user, name string, size int64) (Volume, error) {
	return s.CreateVolumeOn(ctx, user, name, "", size)
}

// CreateVolumeOn makes a volume of user's: reserved under the quota in
// one transaction, then made in LXD, then marked ready. size 0 takes the
// configured default. In a cluster it goes on member host ("": the
// member a container of the user's would go to); on a single host, host
// must be "".
func (s *Service) CreateVolumeOn(ctx context.Context, user, name, host string, size int64) (Volume, error) {
	if err := ValidVolumeName(name); err != nil {
		return Volume{}, err
	}
	size, err := s.volumeSize(size)
	if err != nil {
		return Volume{}, err
	}
	if host, err = s.volumeMember(ctx, user, host); err != nil {
		return Volume{}, err
	}
	s.busy.RLock()
	defer s.busy.RUnlock()
	unlock := s.boxes.lock(volumeKey(user, name))
	defer unlock()
	id, err := s.reserveVolume(ctx, user, name, size)
	if err != nil {
		return Volume{}, err
	}
	failpoint.Hit("volume:reserved")
	err = s.lxdVolumes().CreateVolume(ctx, s.conf().VolumePool, s.volumeName(user, name), size, user, host)
	if err != nil {
		if derr := s.st.Volumes.DeleteReservation(context.WithoutCancel(ctx), s.db, id); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			s.log.Error("dropping a volume reservation failed; reconcile will", "user", user, "volume", name, "err", derr)
		}
		if errors.Is(err, lxd.ErrExists) {
			return Volume{}, fmt.Errorf("volume %s: LXD already has a volume of that name; ask an admin", name)
		}
		return Volume{}, fmt.Errorf("create volume %s: %w", name, err)
	}
	failpoint.Hit("volume:made")
	if err := s.st.Volumes.SetState(context.WithoutCancel(ctx), s.db, id, store.StateReady); err != nil {
		s.log.Error("marking a volume ready failed; the next reconcile keeps it", "user", user, "volume", name, "err", err)
	}
	return Volume{Name: name, Owner: user, Size: size, Used: -1, State: "ready", Created: time.Now().UTC(), Attached: []Attachment{}, Host: host}, nil
}

// volumeSize applies the default and the cap to a requested size.
func (s *Service) volumeSize(size int64) (int64, error) {
	c := s.conf()
	switch {
	case size < 0:
		return 0, errors.New("a volume's size must be positive")
	case size == 0:
		size = c.VolumeDefaultSize
	}
	if size < 1<<20 {
		return 0, fmt.Errorf("size %s: a volume has at least 1MiB", units.FormatSize(size))
	}
	if c.VolumeMaxSize > 0 && size > c.VolumeMaxSize {
		return 0, fmt.Errorf("size %s: at most %s for one volume", units.FormatSize(size), units.FormatSize(c.VolumeMaxSize))
	}
	return size, nil
}

// reserveVolume checks the name and the quota and records the volume as
// "creating", in one transaction.
func (s *Service) reserveVolume(ctx context.Context, user, name string, size int64) (store.VolumeID, error) {
	var id store.VolumeID
	err := store.Tx(ctx, s.db, func(q store.Querier) error {
		uid, err := s.userID(ctx, q, user)
		if err != nil {
			return err
		}
		dup, err := s.st.Volumes.Exists(ctx, q, uid, name)
		if err != nil {
			return fmt.Errorf("reserve volume %s: %w", name, err)
		}
		if dup {
			return fmt.Errorf("volume already exists: you already have %q", name)
		}
		quota, use, err := s.quotaOf(ctx, q, uid)
		if err != nil {
			return fmt.Errorf("reserve volume %s: %w", name, err)
		}
		if err := checkVolumeQuota(quota, use, 1, size); err != nil {
			return err
		}
		id, err = s.st.Volumes.Insert(ctx, q, store.Volume{UserID: uid, Name: name, Size: size, State: store.StateCreating, Created: time.Now()})
		if errors.Is(err, store.ErrUnique) {
			return fmt.Errorf("volume already exists: you already have %q", name)
		}
		return err
	})
	return id, err
}

// checkVolumeQuota refuses n more volumes or grow more bytes past the
// limits, naming the limit and the use.
func checkVolumeQuota(q Quota, use Usage, n int, grow int64) error {
	if n > 0 && int64(n) > int64(q.Volumes)-int64(use.Volumes) {
		return fmt.Errorf("%w: volumes would be %d, your limit is %d (in use: %d); ask an admin or free some", ErrQuota,
			use.Volumes+n, q.Volumes, use.Volumes)
	}
	if grow > q.Disk-use.Disk {
		return fmt.Errorf("%w: disk would be %s, your limit is %s (in use: %s, root disks and volumes); ask an admin or free some", ErrQuota,
			units.FormatSize(satAdd(use.Disk, grow)), units.FormatSize(q.Disk), units.FormatSize(use.Disk))
	}
	return nil
}

// ListVolumes lists user's volumes with their attachments and, where the
// driver says, what they use.
func (s *Service) ListVolumes(ctx context.Context, user string) ([]Volume, error) {
	vs, err := s.st.Volumes.List(ctx, s.db, user)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	as, err := s.st.Volumes.Attachments(ctx, s.db, user)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := []Volume{}
	for _, v := range vs {
		if v.State == store.StateDeleting {
			continue
		}
		out = append(out, s.volumeOf(ctx, v, as))
	}
	return out, nil
}

// GetVolume returns user's volume.
func (s *Service) GetVolume(ctx context.Context, user, name string) (Volume, error) {
	v, err := s.lookupVolume(ctx, s.db, user, name)
	if err != nil {
		return Volume{}, err
	}
	as, err := s.st.Volumes.Attachments(ctx, s.db, user)
	if err != nil {
		return Volume{}, fmt.Errorf("volume %s: %w", name, err)
	}
	return s.volumeOf(ctx, v, as), nil
}

func (s *Service) volumeOf(ctx context.Context, v store.Volume, as []store.Attachment) Volume {
	out := Volume{Name: v.Name, Owner: v.Owner, Size: v.Size, Used: -1, State: v.State, Created: v.Created, Attached: []Attachment{}}
	for _, a := range as {
		if a.VolumeID == v.ID && a.State != store.AttachDetaching {
			out.Attached = append(out.Attached, Attachment{Container: a.Container, Path: a.Path, ReadOnly: a.ReadOnly})
		}
	}
	if v.State == store.StateReady {
		if used, err := s.lxdVolumes().VolumeUsed(ctx, s.conf().VolumePool, s.volumeName(v.Owner, v.Name)); err == nil {
			out.Used = used
		}
	}
	return out
}

// VolumeNames lists user's ready volume names, for completion.
func (s *Service) VolumeNames(ctx context.Context, user string) []string {
	vs, err := s.st.Volumes.List(ctx, s.db, user)
	if err != nil {
		s.log.Error("volume names for completion", "user", user, "err", err)
		return nil
	}
	var out []string
	for _, v := range vs {
		if v.State == store.StateReady {
			out = append(out, v.Name)
		}
	}
	return out
}
