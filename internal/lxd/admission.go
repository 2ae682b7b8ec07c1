package lxd

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// Heavy LXD operations (create, start, stop, delete, snapshot, restore)
// pass through an admission queue per daemon (per member in a cluster,
// where the instance was last seen):
// at most a bounded number run at once, and a freed slot goes to the
// users in turn, so that one user's burst does not starve the others, and
// fifty launches at once do not reach a small host's LXD together.

// admission is the queue of one client.
type admission struct {
	mu      sync.Mutex
	max     int
	members map[string]*memberLine
}

// memberLine is one daemon's: what runs, and who waits, by user.
type memberLine struct {
	running int
	order   []string // users with waiters, in turn order
	waiting map[string][]*waiter
}

type waiter struct {
	ready chan struct{}
	done  bool // given a slot (under the admission's lock)
}

// DefaultMaxConcurrent is the bound when none is configured: the host's
// CPUs, at least two.
func DefaultMaxConcurrent() int { return max(2, runtime.NumCPU()) }

// SetMaxConcurrent bounds the heavy operations in flight per daemon; 0
// takes DefaultMaxConcurrent. Set before use.
func (c *Client) SetMaxConcurrent(n int) {
	if n <= 0 {
		n = DefaultMaxConcurrent()
	}
	c.admit.mu.Lock()
	c.admit.max = n
	c.admit.mu.Unlock()
}

type progressKey struct{}

// WithWaitNote makes a queued operation say where it stands ("queued
// behind 12 operations"), for a terminal's progress line.
func WithWaitNote(ctx context.Context, note func(string)) context.Context {
	return context.WithValue(ctx, progressKey{}, note)
}

// acquire waits for a slot on member's daemon for an operation of user's
// (the project: one per user) and returns its release. Waiting ends with
// ctx: then nothing is held.
func (a *admission) acquire(ctx context.Context, member, user string) (func(), error) {
	a.mu.Lock()
	if a.max == 0 {
		a.max = DefaultMaxConcurrent()
	}
	if a.members == nil {
		a.members = map[string]*memberLine{}
	}
	m := a.members[member]
	if m == nil {
		m = &memberLine{waiting: map[string][]*waiter{}}
		a.members[member] = m
	}
	if m.running < a.max && len(m.order) == 0 {
		m.running++
		a.mu.Unlock()
		return a.releaser(member), nil
	}
	w := &waiter{ready: make(chan struct{})}
	k := len(m.waiting[user]) // the user's own ahead of this one
	if k == 0 {
		m.order = append(m.order, user)
	}
	m.waiting[user] = append(m.waiting[user], w)
	// Ahead of it: what runs, the user's own, and about as many of each
	// other user's as turns come before its own (one per turn).
	ahead := m.running + k
	for u, ws := range m.waiting {
		if u != user {
			ahead += min(len(ws), k+1)
		}
	}
	a.mu.Unlock()
	if note, ok := ctx.Value(progressKey{}).(func(string)); ok {
		note(fmt.Sprintf("queued behind %d operations on LXD", ahead))
	}
	select {
	case <-w.ready:
		return a.releaser(member), nil
	case <-ctx.Done():
		a.mu.Lock()
		defer a.mu.Unlock()
		if w.done {
			// Given a slot as ctx ended: hand it on.
			a.mu.Unlock()
			a.releaser(member)()
			a.mu.Lock()
			return nil, ctx.Err()
		}
		m.remove(user, w)
		return nil, ctx.Err()
	}
}

// releaser gives the slot back once, to the next user in turn.
func (a *admission) releaser(member string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			m := a.members[member]
			m.running--
			for m.running < a.max && len(m.order) > 0 {
				user := m.order[0]
				w := m.waiting[user][0]
				m.waiting[user] = m.waiting[user][1:]
				m.order = m.order[1:]
				if len(m.waiting[user]) > 0 {
					m.order = append(m.order, user) // their next waits its turn
				} else {
					delete(m.waiting, user)
				}
				m.running++
				w.done = true
				close(w.ready)
			}
		})
	}
}

// remove drops a waiter that gave up.
func (m *memberLine) remove(user string, w *waiter) {
	ws := m.waiting[user]
	for i, x := range ws {
		if x == w {
			m.waiting[user] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(m.waiting[user]) == 0 {
		delete(m.waiting, user)
		for i, u := range m.order {
			if u == user {
				m.order = append(m.order[:i:i], m.order[i+1:]...)
				break
			}
		}
	}
}
