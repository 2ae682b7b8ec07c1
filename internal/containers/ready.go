package containers

import (
	"context"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/ref"
)

// A container is ready once it runs with its IPv4 address. DHCP hands the
// address out a moment after the start and LXD sends no event for it, so
// one watch per container reads LXD until it has one: LXD's lifecycle
// events (Observe) wake it, a short backoff covers the rest, and the port
// mapper hears of the address (OnChange) when it comes. Waiters (launch,
// the API's create with wait) join that watch rather than poll themselves.

// readiness holds the watches running now, one per container.
type readiness struct {
	mu      sync.Mutex
	watches map[ref.Ref]*addrWatch
	// every, when set, replaces the backoff between two reads: tests make
	// it long to see that an event wakes the watch.
	every time.Duration
}

// addrWatch is one container's watch; done closes when it ends.
type addrWatch struct {
	done chan struct{}
	wake chan struct{} // an event asks for a read now
}

// DefaultLaunchWait is how long a launch waits for the container's
// address, in the shell and the API alike.
const DefaultLaunchWait = 30 * time.Second

// addressPatience bounds a watch: past it the periodic reconcile maps the
// container once it has an address.
const addressPatience = time.Minute

// Observe takes one of LXD's lifecycle events for an instance (started,
// stopped, deleted...) in any project: a container of the gateway's is
// treated as after a change made through the service. It does not wait
// for the address, but it does wait for the mapper's first update.
func (s *Service) Observe(project, name, _ string) {
	if user, ok := s.owner(project); ok {
		s.changed(user, name)
	}
}

// changed tells the port mapper that a container's state or ports changed
// and, while it runs without an address, watches for the address, telling
// the mapper again when it comes. The read comes before the mapper's: an
// address that arrives between the two is then either in the mapper's read
// or seen by the watch.
func (s *Service) changed(user, name string) {
	s.accounts.drop(user, name)
	s.KickQueue() // GPUs may have been freed
	onChange := s.conf().OnChange
	if onChange == nil {
		return
	}
	r := ref.Ref{Owner: user, Name: name}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	pending := s.pending(ctx, r)
	cancel()
	onChange(r)
	if pending {
		s.watchAddress(r)
	} else {
		s.wake(r)
	}
}

// wake asks r's watch, if one runs, to read now.
func (s *Service) wake(r ref.Ref) {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	if w := s.ready.watches[r]; w != nil {
		w.nudge()
	}
}

// nudge asks for a read now; one asked for already is enough.
func (w *addrWatch) nudge() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pending reports whether a container runs but has no address yet.
func (s *Service) pending(ctx context.Context, r ref.Ref) bool {
	in, err := s.lxd.Get(ctx, s.Project(r.Owner), r.Name)
	return err == nil && in.Running && in.IPv4 == ""
}

// WaitAddress waits until user's container runs with its IPv4 address and
// returns it as Get does. A container that is stopped, or still without an
// address when the watch gives up, comes back as it is; when ctx ends
// first, so does the container as last read, with ctx's error.
func (s *Service) WaitAddress(ctx context.Context, user, name string) (Container, error) {
	ct, err := s.Get(ctx, user, name)
	if err != nil || ct.IPv4 != "" {
		return ct, err
	}
	w := s.watchAddress(ref.Ref{Owner: user, Name: name})
	select {
	case <-w.done:
	case <-ctx.Done():
		return ct, ctx.Err()
	}
	return s.Get(ctx, user, name)
}

// watchAddress joins r's watch, waking it, or starts one.
func (s *Service) watchAddress(r ref.Ref) *addrWatch {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	if w := s.ready.watches[r]; w != nil {
		w.nudge()
		return w
	}
	if s.ready.watches == nil {
		s.ready.watches = map[ref.Ref]*addrWatch{}
	}
	w := &addrWatch{done: make(chan struct{}), wake: make(chan struct{}, 1)}
	s.ready.watches[r] = w
	go s.watch(r, w)
	return w
}

// watch reads r until it has an address, stops or the patience runs out,
// often at first: DHCP answers within a second or two, and a launch
// should be reachable as soon as it has its address. The mapper hears of
// the address the watch sees.
func (s *Service) watch(r ref.Ref, w *addrWatch) {
	defer func() {
		s.ready.mu.Lock()
		delete(s.ready.watches, r)
		s.ready.mu.Unlock()
		close(w.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), addressPatience)
	defer cancel()
	start, delay := time.Now(), 50*time.Millisecond
	for {
		in, err := s.lxd.Get(ctx, s.Project(r.Owner), r.Name)
		switch {
		case err != nil || !in.Running:
			return // gone or stopped: no address to wait for
		case in.IPv4 != "":
			// Told even when the first read has it: it may have come
			// after the mapper's read that started this watch.
			s.publish(r)
			return
		}
		if time.Since(start) > 3*time.Second {
			delay = min(2*delay, time.Second)
		}
		if s.ready.every > 0 {
			delay = s.ready.every
		}
		select {
		case <-ctx.Done():
			s.log.Warn("no address within a minute; the periodic reconcile maps it later", "container", r)
			return
		case <-w.wake:
		case <-time.After(delay):
		}
	}
}

// publish tells the mapper of r, without a read of its own.
func (s *Service) publish(r ref.Ref) {
	if f := s.conf().OnChange; f != nil {
		f(r)
	}
}
