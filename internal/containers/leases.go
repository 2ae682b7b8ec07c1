package containers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/units"
)

// The reasons the gateway stops a container by itself.
const (
	ReasonIdle    = "idle"
	ReasonExpired = "expired"
)

// ParseLease reads a lease as a user writes it ("12h", "7d"); "" is none
// asked for, which takes the default.
func ParseLease(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := units.ParseAge(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("lease %q: say 12h or 7d", s)
	}
	return d, nil
}

// leaseFor is the lease a new container gets: the one asked for, else the
// default, else (when there is a cap) the cap; 0 is none.
func (s *Service) leaseFor(asked time.Duration) (time.Duration, error) {
	c := s.conf()
	switch {
	case asked < 0:
		return 0, errors.New("--lease must be positive, e.g. 12h or 7d")
	case asked > 0 && c.LeaseMax > 0 && asked > c.LeaseMax:
		return 0, fmt.Errorf("lease %s: at most %s", units.FormatAge(asked), units.FormatAge(c.LeaseMax))
	case asked > 0:
		return asked, nil
	case c.LeaseDefault > 0:
		return c.LeaseDefault, nil
	}
	return c.LeaseMax, nil
}

// expired reports a lease that has run out by the wall clock.
func expired(r row, now time.Time) bool { return !r.LeaseUntil.IsZero() && !now.Before(r.LeaseUntil) }

// checkLease refuses to start a container whose lease ran out.
func checkLease(r row) error {
	if r.StopReason == ReasonExpired || expired(r, time.Now()) {
		return errorf(ErrExpired, r.Name, "the lease of %s ran out at %s", r.Name, r.LeaseUntil.Format(time.RFC3339))
	}
	return nil
}

// Renew gives user's container a lease of d from now (0: the default,
// else the cap), at most the cap; a container stopped because its lease
// ran out may be started again, when nobody took its GPUs meanwhile.
func (s *Service) Renew(ctx context.Context, user, name string, d time.Duration) (time.Time, error) {
	if d == 0 {
		d = s.conf().LeaseDefault
		if d == 0 {
			d = s.conf().LeaseMax
		}
		if d == 0 {
			return time.Time{}, fmt.Errorf("give a duration, e.g. 'renew %s 7d'", name)
		}
	}
	d, err := s.leaseFor(d)
	if err != nil {
		return time.Time{}, err
	}
	if limit := s.conf().RenewWhileWaiting; limit > 0 && d > limit && s.holdsGPUs(ctx, user, name) && s.anyoneWaits(ctx) {
		d = limit // others wait for GPUs: a holder renews for a while only
	}
	return s.setLease(ctx, user, name, time.Now().Add(d))
}

// holdsGPUs reports whether user's container name holds GPUs.
func (s *Service) holdsGPUs(ctx context.Context, user, name string) bool {
	r, err := s.lookup(ctx, user, name)
	return err == nil && r.GPUs != ""
}

// anyoneWaits reports whether a launch waits in the GPU queue.
func (s *Service) anyoneWaits(ctx context.Context) bool {
	es, err := s.st.Queue.List(ctx, s.db)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(es, func(e store.QueueEntry) bool { return e.State == store.QueueWaiting })
}

// SetLease sets any container's lease (admins): until zero removes it. No
// cap applies.
func (s *Service) SetLease(ctx context.Context, user, name string, until time.Time) error {
	_, err := s.setLease(ctx, user, name, until)
	return err
}

func (s *Service) setLease(ctx context.Context, user, name string, until time.Time) (time.Time, error) {
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return time.Time{}, err
	}
	defer release()
	until = until.UTC().Truncate(time.Second)
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		if r.StopReason == ReasonExpired && r.GPUs != "" && !s.conf().SharedGPUs {
			// Its GPUs were given back when it expired.
			if err := s.gpusStillFree(ctx, q, r); err != nil {
				return err
			}
		}
		return s.st.Containers.SetLease(ctx, q, r.ID, until)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("lease of %s: %w", name, err)
	}
	if r.GPUs != "" {
		// An expired container's GPU devices went with its GPUs; they come
		// back with the lease.
		if err := s.fitGPUsOf(context.WithoutCancel(ctx), user, name); err != nil {
			return until, fmt.Errorf("the lease of %s runs until %s, but giving back its GPU devices failed: %w; renew it again",
				name, until.Format(time.RFC3339), err)
		}
	}
	return until, nil
}

// gpusStillFree refuses when another container took r's GPUs.
func (s *Service) gpusStillFree(ctx context.Context, q store.Querier, r row) error {
	host, err := s.allGPUs(ctx)
	if err != nil {
		return err
	}
	held, err := s.held(ctx, q, host)
	if err != nil {
		return err
	}
	for _, g := range host {
		k := gpuKey(g)
		if len(held[k]) > 0 && (r.GPUs == allKey(g.Host) || strings.Contains(","+r.GPUs+",", ","+k+",")) {
			return errorf(ErrGPUHeld, r.Name, "GPU %s went to %s while %s was expired; delete %s or wait for it",
				k, strings.Join(held[k], ","), r.Name, r.Name)
		}
	}
	return nil
}

// SweepItem is one of the gateway's containers as the sweeper weighs it.
type SweepItem struct {
	Ref        ref.Ref
	Running    bool
	LeaseUntil time.Time // zero: no lease
	GPUs       []string  // recorded GPU keys
	IPv4       string
	CPUTime    time.Duration // CPU time used since it started
	StopReason string        // the gateway's own stop, if any
	Sessions   int           // sessions open into it through the gateway (alice+box)
}

// autoStopNotice is the line sessions into a container get when the
// gateway stops it.
func autoStopNotice(name, reason string) string {
	if reason == ReasonExpired {
		return fmt.Sprintf("lxcgate: %s is being stopped: its lease ran out ('renew %s' to extend it)", name, name)
	}
	return fmt.Sprintf("lxcgate: %s is being stopped: %s", name, reason)
}

// SweepItems lists every ready container with what the sweeper needs, in
// one LXD list. Containers on members that do not answer are left out.
func (s *Service) SweepItems(ctx context.Context) ([]SweepItem, error) {
	rs, err := s.rows(ctx, "")
	if err != nil {
		return nil, err
	}
	ins, err := s.lxd.List(ctx, "")
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]int, len(ins))
	for i, in := range ins {
		byKey[in.Project+"/"+in.Name] = i
	}
	out := make([]SweepItem, 0, len(rs))
	for _, r := range rs {
		i, ok := byKey[s.Project(r.Owner)+"/"+r.Name]
		if !ok || r.State != store.StateReady || ins[i].Offline != "" {
			continue
		}
		it := SweepItem{Ref: ref.Ref{Owner: r.Owner, Name: r.Name}, Running: ins[i].Running, LeaseUntil: r.LeaseUntil,
			IPv4: ins[i].IPv4, CPUTime: ins[i].CPUTime, StopReason: r.StopReason, Sessions: s.open.count(ref.Ref{Owner: r.Owner, Name: r.Name}) + s.appUse.active(ref.Ref{Owner: r.Owner, Name: r.Name})}
		if r.GPUs != "" {
			it.GPUs = strings.Split(r.GPUs, ",")
		}
		out = append(out, it)
	}
	return out, nil
}

// AutoStop stops a container for reason (idle, expired) and records why;
// a container already stopped only gets the record. A lease renewed since
// the sweep read it wins: ErrRenewed, and nothing changes. An expired
// container's GPU devices go with its GPUs.
func (s *Service) AutoStop(ctx context.Context, r ref.Ref, reason string) error {
	_, release, err := s.hold(ctx, r.Owner, r.Name)
	if err != nil {
		return err
	}
	defer release()
	// The record goes first: a kill or a refused stop between the two
	// steps leaves a container that is marked, and the next pass, seeing
	// it run, stops it again.
	if reason, err = s.markStopped(ctx, r, reason); err != nil {
		return err
	}
	s.open.end(r, autoStopNotice(r.Name, reason))
	err = s.lxd.Stop(ctx, s.Project(r.Owner), r.Name, false)
	if err != nil && !errors.Is(err, lxd.ErrNotRunning) {
		return fmt.Errorf("stop %s (%s): %w", r, reason, err)
	}
	s.changed(r.Owner, r.Name)
	if reason == ReasonExpired {
		if err := s.fitGPUsOf(context.WithoutCancel(ctx), r.Owner, r.Name); err != nil {
			// Stopped, and start needs a renew: the reconcile removes them.
			s.log.Error("removing an expired container's GPU devices failed", "owner", r.Owner, "name", r.Name, "err", err)
		}
	}
	return nil
}

// markStopped records the gateway's stop, re-reading the row in the same
// transaction: a lease renewed since the sweep's read is not stopped. It
// returns the reason recorded: an "expired" record stays, since start
// needs a renew.
func (s *Service) markStopped(ctx context.Context, r ref.Ref, reason string) (string, error) {
	err := store.Tx(ctx, s.db, func(q store.Querier) error {
		cur, err := s.st.Containers.Get(ctx, q, r.Owner, r.Name)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrNoSuch, r.Name, "no such container %q", r.Name)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		switch {
		case cur.StopReason == ReasonExpired:
			reason = ReasonExpired
		case reason == ReasonExpired && !expired(cur, now):
			until := "none"
			if !cur.LeaseUntil.IsZero() {
				until = cur.LeaseUntil.Format(time.RFC3339)
			}
			return errorf(ErrRenewed, r.Name, "%s was renewed meanwhile (lease until %s); not stopped", r.Name, until)
		}
		return s.st.Containers.SetStopped(ctx, q, cur.ID, reason, now)
	})
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return reason, err
		}
		return reason, fmt.Errorf("stop %s (%s): %w", r, reason, err)
	}
	return reason, nil
}

// Notice is a line of the login banner.
type Notice struct {
	Name   string    `json:"name"`
	Reason string    `json:"reason"` // idle, expired, "expires" for a lease running out soon, queue-started, queue-failed
	At     time.Time `json:"at"`
	Detail string    `json:"detail,omitempty"` // why a queued launch failed
}

// Notices lists user's containers whose lease runs out within soon, and
// those the gateway stopped since since.
func (s *Service) Notices(ctx context.Context, user string, since time.Time, soon time.Duration) ([]Notice, error) {
	rs, err := s.rows(ctx, user)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out, err := s.queueNotices(ctx, user)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		switch {
		case r.State != store.StateReady:
		case r.StopReason != "" && r.StoppedAt.After(since):
			out = append(out, Notice{Name: r.Name, Reason: r.StopReason, At: r.StoppedAt})
		case r.StopReason == "" && !r.LeaseUntil.IsZero() && r.LeaseUntil.Sub(now) < soon:
			out = append(out, Notice{Name: r.Name, Reason: "expires", At: r.LeaseUntil})
		}
	}
	return out, nil
}
