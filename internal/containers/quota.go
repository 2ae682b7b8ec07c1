package containers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/quota"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Usage is what a user's containers take now.
type Usage = Quota

// QuotaChange sets the given (non-nil) fields of a user's quota.
type QuotaChange = quota.Change

// reservation is a container recorded as "creating", with its host ports.
type reservation struct {
	id    store.ContainerID
	quota Quota     // the owner's, for the LXD project's limits
	until time.Time // when its lease runs out; zero: none
}

// reserve checks the quota (and, for exclusive GPUs, that nobody holds
// them) and records the container as "creating" with its host ports, all
// in one transaction: two sessions, or two gateways, cannot both take the
// last slot or the same GPU. host is the host's GPUs, read before the
// transaction so that no LXD round trip holds the database's write lock.
func (s *Service) reserve(ctx context.Context, user string, req CreateRequest, host []lxd.GPU, gpus int) (reservation, error) {
	var res reservation
	err := store.Tx(ctx, s.db, func(q store.Querier) error {
		uid, err := s.userID(ctx, q, user)
		if err != nil {
			return err
		}
		dup, err := s.st.Containers.Exists(ctx, q, uid, req.Name)
		if err != nil {
			return fmt.Errorf("reserve %s: %w", req.Name, err)
		}
		if dup {
			return fmt.Errorf("%w: you already have %q", ErrExists, req.Name)
		}
		if req.GPU != "" && !s.conf().SharedGPUs {
			if err := s.gpusFree(ctx, q, host, req.GPU); err != nil {
				return err
			}
		}
		quota, use, err := s.quotaOf(ctx, q, uid)
		if err != nil {
			return fmt.Errorf("reserve %s: %w", req.Name, err)
		}
		if err := checkQuota(quota, use, req, gpus); err != nil {
			return err
		}
		if s.checked != nil {
			s.checked()
		}
		now := time.Now()
		var until time.Time
		if req.Lease > 0 {
			until = now.Add(req.Lease).UTC().Truncate(time.Second)
		}
		id, err := s.st.Containers.Insert(ctx, q, store.Container{UserID: uid, Name: req.Name, Image: req.Image, CPU: req.CPU,
			Memory: req.Memory, Disk: req.Disk, GPUs: req.GPU, GPUCount: gpus, State: store.StateCreating, Created: now, LeaseUntil: until})
		if errors.Is(err, store.ErrUnique) {
			return fmt.Errorf("%w: you already have %q", ErrExists, req.Name)
		}
		if err != nil {
			return fmt.Errorf("reserve %s: %w", req.Name, err)
		}
		if err := s.reserveMounts(ctx, q, user, id, req.Volumes); err != nil {
			return err
		}
		// Host ports are reserved with the container and kept for its life.
		if err := s.ensurePorts(ctx, q, id); err != nil {
			return fmt.Errorf("create %s: %w", req.Name, err)
		}
		res = reservation{id: id, quota: quota, until: until}
		return nil
	})
	return res, err
}

// checkQuota refuses a request that would take the user past a limit,
// naming the limit and the current use.
func checkQuota(q Quota, use Usage, req CreateRequest, gpus int) error {
	check := func(what string, have, add, limit int64, format func(int64) string) error {
		// Compared without the sum, which could overflow: all three are
		// non-negative, and have may exceed a lowered limit.
		if add > limit-have {
			return fmt.Errorf("%w: %s would be %s, your limit is %s (in use: %s); ask an admin or free some", ErrQuota,
				what, format(satAdd(have, add)), format(limit), format(have))
		}
		return nil
	}
	num := func(n int64) string { return fmt.Sprint(n) }
	for _, err := range []error{
		check("containers", int64(use.Containers), 1, int64(q.Containers), num),
		check("cpu", int64(use.CPU), int64(req.CPU), int64(q.CPU), num),
		check("memory", use.Memory, req.Memory, q.Memory, units.FormatSize),
		check("disk", use.Disk, req.Disk, q.Disk, units.FormatSize),
		check("gpus", int64(use.GPUs), int64(gpus), int64(q.GPUs), num),
	} {
		if err != nil {
			return err // the first limit passed
		}
	}
	return nil
}

// satAdd adds non-negative numbers, stopping at the largest int64.
func satAdd(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// unreserve drops a reservation whose create failed in LXD.
func (s *Service) unreserve(user, name string, id store.ContainerID) {
	err := s.st.Containers.DeleteReservation(context.Background(), s.db, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("drop reservation failed; reconcile will", "user", user, "name", name, "err", err)
	}
}

// Quota returns user's quota and current use. A user the database does
// not know has the default quota and uses nothing.
func (s *Service) Quota(ctx context.Context, user string) (Quota, Usage, error) {
	uid, err := s.st.Users.ID(ctx, s.db, user)
	if errors.Is(err, store.ErrNotFound) {
		return s.conf().Quota, Usage{}, nil
	}
	if err != nil {
		return s.conf().Quota, Usage{}, fmt.Errorf("quota of %s: %w", user, err)
	}
	q, u, err := s.quotaOf(ctx, s.db, uid)
	if err != nil {
		return q, u, fmt.Errorf("quota of %s: %w", user, err)
	}
	return q, u, nil
}

// quotaOf reads a user's quota and use through q.
func (s *Service) quotaOf(ctx context.Context, q store.Querier, uid store.UserID) (Quota, Usage, error) {
	quota, err := s.limits(ctx, q, uid)
	if err != nil {
		return quota, Usage{}, err
	}
	u, err := s.st.Containers.Usage(ctx, q, uid)
	if err != nil {
		return quota, Usage{}, err
	}
	vols, size, err := s.st.Volumes.Usage(ctx, q, uid)
	if err != nil {
		return quota, Usage{}, err
	}
	// Volume sizes count towards disk, beside the root disks.
	return quota, Usage{Containers: u.Containers, CPU: u.CPU, Memory: u.Memory, Disk: satAdd(u.Disk, size), GPUs: u.GPUs,
		Volumes: vols}, nil
}

// limits is a user's quota: their own values over the configured defaults.
func (s *Service) limits(ctx context.Context, q store.Querier, uid store.UserID) (Quota, error) {
	row, err := s.st.Quotas.Get(ctx, q, uid)
	if err != nil {
		return s.conf().Quota, err
	}
	return row.Over(s.conf().Quota), nil
}

// SetQuota changes user's quota and, when LXD answers, the project limits.
func (s *Service) SetQuota(ctx context.Context, user string, ch QuotaChange) (Quota, error) {
	uid, err := s.userID(ctx, s.db, user)
	if err != nil {
		return Quota{}, err
	}
	if err := ch.Validate(); err != nil {
		return Quota{}, err
	}
	if ch.Hosts != nil {
		if err := s.checkGroup(ctx, *ch.Hosts); err != nil {
			return Quota{}, err
		}
	}
	if err := s.st.Quotas.Set(ctx, s.db, uid, ch); err != nil {
		return Quota{}, fmt.Errorf("set quota of %s: %w", user, err)
	}
	q, use, err := s.quotaOf(ctx, s.db, uid)
	if err != nil {
		return q, fmt.Errorf("quota of %s: %w", user, err)
	}
	if use.Containers > 0 {
		// The project exists only once the user has containers; a new one
		// gets these limits when it is made.
		if err := s.ensureProject(ctx, s.Project(user), limitsOf(q)); err != nil {
			s.log.Warn("project limits not updated; they will be at the next create", "user", user, "err", err)
		}
	}
	return q, nil
}
