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
)

// Start starts user's container; one whose lease ran out must be renewed
// first. A start clears the gateway's own stop (idle, expired).
func (s *Service) Start(ctx context.Context, user, name string) error {
	return s.act(ctx, user, name, "start", func(r row, p string) error {
		if err := checkLease(r); err != nil {
			return err
		}
		err := s.lxd.Start(ctx, p, name)
		if errors.Is(err, lxd.ErrRunning) {
			return fmt.Errorf("%s is already running", name)
		}
		if err == nil {
			s.cleared(ctx, r)
		}
		return err
	})
}

// cleared drops the record of the gateway's own stop once the container
// runs again.
func (s *Service) cleared(ctx context.Context, r row) {
	if r.StopReason == "" {
		return
	}
	if err := s.st.Containers.SetStopped(context.WithoutCancel(ctx), s.db, r.ID, "", time.Time{}); err != nil {
		s.log.Warn("clearing the stop reason failed", "owner", r.Owner, "name", r.Name, "err", err)
	}
}

// Stop stops user's container, cleanly unless force.
func (s *Service) Stop(ctx context.Context, user, name string, force bool) error {
	return s.act(ctx, user, name, "stop", func(_ row, p string) error {
		err := s.lxd.Stop(ctx, p, name, force)
		if errors.Is(err, lxd.ErrNotRunning) {
			return fmt.Errorf("%s is not running", name)
		}
		return err
	})
}

// Restart restarts user's running container.
func (s *Service) Restart(ctx context.Context, user, name string) error {
	return s.act(ctx, user, name, "restart", func(_ row, p string) error {
		err := s.lxd.Restart(ctx, p, name)
		if errors.Is(err, lxd.ErrNotRunning) {
			return errorf(ErrStopped, name, "%s is not running", name)
		}
		return err
	})
}

// hold looks up user's container and holds it for one operation; release
// must be called.
func (s *Service) hold(ctx context.Context, user, name string) (_ row, _ func(), err error) {
	s.busy.RLock()
	unlock := s.boxes.lock(user + "/" + name)
	release := func() { unlock(); s.busy.RUnlock() }
	// Deferred, so that a panic below (in LXD's adapter, say) releases too:
	// a held lock would block the container and every reconcile for good.
	defer releaseUnless(&err, release)
	r, err := s.lookup(ctx, user, name)
	if err == nil && r.State == store.StateCreating {
		err = fmt.Errorf("%s is still being created; try again in a moment", name)
	}
	if err == nil {
		err = s.reachable(ctx, user, name)
	}
	if err != nil {
		return row{}, nil, err
	}
	return r, release, nil
}

// reachable fails at once, in one line, for a container whose cluster
// member does not answer, rather than after LXD's own timeouts. A single
// host costs nothing here.
func (s *Service) reachable(ctx context.Context, user, name string) error {
	ms, err := s.lxd.Members(ctx)
	if err != nil || ms == nil {
		return err
	}
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	switch {
	case err != nil:
		return nil // the operation itself says what is wrong
	case in.Offline != "":
		return fmt.Errorf("%s: %w", name, errOffline(in.Offline))
	}
	return nil
}

// releaseUnless releases when the function it is deferred in fails or
// panics, and leaves the hold to the caller when it returns without error.
func releaseUnless(err *error, release func()) {
	if r := recover(); r != nil {
		release()
		panic(r)
	}
	if *err != nil {
		release()
	}
}

func (s *Service) act(ctx context.Context, user, name, verb string, f func(r row, project string) error) error {
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	if err := f(r, s.Project(user)); err != nil {
		var de *Error
		if errors.As(err, &de) {
			return err // says it all
		}
		if errors.Is(err, lxd.ErrNotFound) {
			return errorf(ErrNoSuch, name, "no such container %q", name)
		}
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	failpoint.Hit(verb + ":done")
	s.changed(user, name)
	return nil
}

// Delete deletes user's container; a running one needs force.
func (s *Service) Delete(ctx context.Context, user, name string, force bool) error {
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	exists := err == nil
	switch {
	case errors.Is(err, lxd.ErrNotFound):
		// Gone behind our back: only the row is left to drop.
	case err != nil:
		return fmt.Errorf("delete %s: %w", name, err)
	case in.Running && !force:
		return fmt.Errorf("%s is running; stop it first or use --force", name)
	}
	// Mark first: a kill between the two steps is finished by Reconcile.
	if err := s.st.Containers.SetState(ctx, s.db, r.ID, store.StateDeleting); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	failpoint.Hit("delete:marked")
	ctx = context.WithoutCancel(ctx)
	if exists {
		if derr := s.lxd.Delete(ctx, s.Project(user), name, force); derr != nil && !errors.Is(derr, lxd.ErrNotFound) {
			if err := s.st.Containers.SetState(ctx, s.db, r.ID, store.StateReady); err != nil {
				s.log.Error("delete failed in LXD and the container could not be marked ready again; the next start's reconcile finishes the delete",
					"user", user, "name", name, "lxd_err", derr, "err", err)
			}
			if errors.Is(derr, lxd.ErrRunning) {
				return fmt.Errorf("%s is running; stop it first or use --force", name)
			}
			return fmt.Errorf("delete %s: %w", name, derr)
		}
	}
	failpoint.Hit("delete:gone")
	if err := s.st.Containers.Delete(ctx, s.db, r.ID); err != nil {
		// LXD deleted it: the row, hidden as "deleting", goes at the next
		// start's reconcile.
		s.log.Error("dropping the row of a deleted container failed", "user", user, "name", name, "err", err)
	}
	if r.GPUs != "" {
		s.releaseGPUs(ctx, user, name)
	}
	s.changed(user, name) // its ports went with the row; the rules go now
	return nil
}

// Get returns user's container.
func (s *Service) Get(ctx context.Context, user, name string) (Container, error) {
	r, err := s.lookup(ctx, user, name)
	if err != nil {
		return Container{}, err
	}
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	if err != nil && !errors.Is(err, lxd.ErrNotFound) {
		return Container{}, err
	}
	c := merge(r, in, err == nil)
	ports, err := s.portsOf(ctx, r.ID)
	if err != nil {
		return Container{}, err
	}
	if ports[r.ID] != nil {
		c.Ports = s.withURLs(r.Owner, r.Name, ports[r.ID])
	}
	return c, nil
}

// List returns user's containers, or everyone's with all.
func (s *Service) List(ctx context.Context, user string, all bool) ([]Container, error) {
	who, project := user, s.Project(user)
	if all {
		who, project = "", ""
	}
	rs, err := s.rows(ctx, who)
	if err != nil {
		return nil, err
	}
	ins, err := s.lxd.List(ctx, project)
	if err != nil && !errors.Is(err, lxd.ErrProjectMissing) {
		return nil, err
	}
	byKey := map[string]lxd.Instance{}
	for _, in := range ins {
		byKey[in.Project+"/"+in.Name] = in
	}
	ports, err := s.portsOf(ctx, idsOf(rs)...)
	if err != nil {
		return nil, err
	}
	out := []Container{}
	for _, r := range rs {
		if r.State == store.StateDeleting {
			continue
		}
		in, ok := byKey[s.Project(r.Owner)+"/"+r.Name]
		c := merge(r, in, ok)
		if ports[r.ID] != nil {
			c.Ports = s.withURLs(r.Owner, r.Name, ports[r.ID])
		}
		out = append(out, c)
	}
	return out, nil
}

// Names lists user's container names, for completion; a failure to read
// them is logged and completes nothing.
func (s *Service) Names(ctx context.Context, user string) []string {
	rs, err := s.rows(ctx, user)
	if err != nil {
		s.log.Error("container names for completion", "user", user, "err", err)
		return nil
	}
	var out []string
	for _, r := range rs {
		if r.State == store.StateReady {
			out = append(out, r.Name)
		}
	}
	return out
}

func idsOf(rs []row) []store.ContainerID {
	ids := make([]store.ContainerID, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

func merge(r row, in lxd.Instance, found bool) Container {
	c := Container{Name: r.Name, Owner: r.Owner, Image: r.Image, Created: r.Created, CPU: r.CPU, Memory: r.Memory,
		Disk: r.Disk, GPUs: []string{}, Ports: []Port{}, State: "missing"}
	if r.State == store.StateCreating {
		c.State = "creating"
	}
	if r.GPUs != "" {
		c.GPUs = strings.Split(r.GPUs, ",")
	}
	if !r.LeaseUntil.IsZero() {
		t := r.LeaseUntil
		c.Expires = &t
	}
	c.Reason = r.StopReason
	if found {
		c.State = strings.ToLower(in.Status)
		if in.Offline != "" {
			c.State = "unreachable (" + in.Offline + " offline)"
		}
		c.IPv4, c.Snapshots, c.Host = in.IPv4, in.Snapshots, in.Location
		if in.CPU > 0 {
			c.CPU = in.CPU
		}
		if in.Memory > 0 {
			c.Memory = in.Memory
		}
	}
	return c
}
