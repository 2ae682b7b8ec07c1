package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/users"
)

// registry holds the live authenticated connections by account name, so
// that a connection ends when its account is disabled or deleted. A lobby
// connection joins under a name only when a session in it logs in.
type registry struct {
	mu  sync.Mutex
	by  map[string]map[*connState]struct{}
	gen uint64 // bumped on every add: the watcher then checks even if the database did not change
}

func newRegistry() *registry { return &registry{by: map[string]map[*connState]struct{}{}} }

func (r *registry) add(name string, st *connState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.by[name]
	if set == nil {
		set = map[*connState]struct{}{}
		r.by[name] = set
	}
	if _, ok := set[st]; !ok {
		set[st] = struct{}{}
		st.names = append(st.names, name)
	}
	r.gen++
}

// remove drops a closed connection from every name it is under.
func (r *registry) remove(st *connState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range st.names {
		if set := r.by[name]; set != nil {
			delete(set, st)
			if len(set) == 0 {
				delete(r.by, name)
			}
		}
	}
	st.names = nil
}

// snapshot returns the registered names with their connections, and the
// generation it reflects.
func (r *registry) snapshot() (map[string][]*connState, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]*connState, len(r.by))
	for name, set := range r.by {
		for st := range set {
			out[name] = append(out[name], st)
		}
	}
	return out, r.gen
}

// watch polls the users for accounts disabled or deleted behind the
// gateway's back (lxcgate user disable, from another process) and ends
// their connections. An idle poll costs one tiny query (users.Changes);
// the accounts are read only after a change, or after a new registration.
func (s *Server) watch(ctx context.Context) {
	t := time.NewTicker(s.opt.WatchInterval)
	defer t.Stop()
	changes := s.opt.Accounts.Changes()
	defer changes.Close()
	var (
		lastVersion int64 = -1
		lastGen     uint64
		failing     bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		live, gen := s.live.snapshot()
		if len(live) == 0 {
			lastGen = gen
			continue
		}
		err := func() error {
			v, err := changes.Version(ctx)
			if err != nil {
				lastVersion = -1 // the next version comes from a new connection
				return err
			}
			if v == lastVersion && gen == lastGen {
				return nil
			}
			states, err := s.opt.Accounts.Disabled(ctx)
			if err != nil {
				return err
			}
			s.endStale(ctx, live, states)
			lastVersion, lastGen = v, gen
			return nil
		}()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			s.log.Error("watching accounts failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("watching accounts again")
			failing = false
		}
	}
}

// endStale ends the connections of accounts now disabled or gone.
func (s *Server) endStale(ctx context.Context, live map[string][]*connState, disabled map[string]bool) {
	for name, conns := range live {
		d, exists := disabled[name]
		if exists && !d {
			continue
		}
		why := "account disabled"
		if !exists {
			why = "account deleted"
		}
		for _, st := range conns {
			s.endConn(ctx, st, name, why)
		}
	}
}

// endConn closes a connection whose account went, with one log line and
// one audit record per connection.
func (s *Server) endConn(ctx context.Context, st *connState, name, why string) {
	s.recordEnd(ctx, st, name, why)
	if st.conn != nil {
		st.conn.Close()
	}
}

func (s *Server) recordEnd(ctx context.Context, st *connState, name, why string) {
	if !st.endAudited.CompareAndSwap(false, true) {
		return
	}
	s.log.Warn("connection ended: "+why, "user", name, "remote", st.remote)
	s.opt.Audit.Record(ctx, audit.Event{Kind: audit.KindRefusal, User: name, Remote: st.remote,
		Method: "session", Detail: why + "; session ended"})
}

// refresh re-reads a session's account before each of its commands (the
// shell's IO.Refresh): a role change applies at once, and a disabled or
// deleted account runs nothing more.
func (s *Server) refresh(st *connState) func(ctx context.Context, name string) (users.User, error) {
	return func(ctx context.Context, name string) (users.User, error) {
		if s.opt.Lobby != "" && name == s.opt.Lobby {
			return users.User{Name: name, Role: users.RoleUser}, nil
		}
		// Right after a key login, the record it read is current enough:
		// see freshLogin.
		if r := st.keyUser.Load(); r != nil && r.user.Name == name && time.Since(r.at) < freshLogin {
			return r.user, nil
		}
		u, err := s.opt.Auth.User(ctx, name)
		switch {
		case errors.Is(err, users.ErrNotFound):
			s.recordEnd(ctx, st, name, "account deleted")
			return users.User{}, err
		case err != nil:
			return users.User{}, err
		case u.Disabled:
			s.recordEnd(ctx, st, name, "account disabled")
			return users.User{}, users.ErrDisabled
		}
		return u, nil
	}
}
