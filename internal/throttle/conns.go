package throttle

import "sync"

// Conns counts connections per source: those still authenticating, and
// all, each under its cap. A connection's place is a Slot. It is safe for
// concurrent use.
type Conns struct {
	maxUnauth, maxTotal int

	mu sync.Mutex
	by map[string]*connCount
}

type connCount struct{ unauth, total int }

// Slot is one connection's place in its source's counts.
type Slot struct {
	key              string
	authed, released bool // under the limiter's lock
}

// Set changes the caps; connections open stay.
func (l *Conns) Set(maxUnauth, maxTotal int) {
	l.mu.Lock()
	l.maxUnauth, l.maxTotal = maxUnauth, maxTotal
	l.mu.Unlock()
}

// NewConns returns Conns with the given caps per source.
func NewConns(maxUnauth, maxTotal int) *Conns {
	return &Conns{maxUnauth: maxUnauth, maxTotal: maxTotal, by: map[string]*connCount{}}
}

// Acquire takes a place for a new, unauthenticated connection from key;
// when the source is at a limit it returns nil, why and the limit.
func (l *Conns) Acquire(key string) (*Slot, string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.by[key]
	if c == nil {
		c = &connCount{}
		l.by[key] = c
	}
	switch {
	case c.unauth >= l.maxUnauth:
		return nil, "too many connections authenticating from this source", l.maxUnauth
	case c.total >= l.maxTotal:
		return nil, "too many connections from this source", l.maxTotal
	}
	c.unauth++
	c.total++
	return &Slot{key: key}, "", 0
}

// Authenticated moves the connection out of its source's unauthenticated
// count.
func (l *Conns) Authenticated(s *Slot) {
	if s == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.authed || s.released {
		return
	}
	s.authed = true
	l.by[s.key].unauth--
}

// Release drops a closed connection from its source's counts.
func (l *Conns) Release(s *Slot) {
	if s == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.released {
		return
	}
	s.released = true
	c := l.by[s.key]
	c.total--
	if !s.authed {
		c.unauth--
	}
	if c.total == 0 {
		delete(l.by, s.key)
	}
}

// Counts returns a source's unauthenticated and total connections.
func (l *Conns) Counts(key string) (unauth, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.by[key]; c != nil {
		return c.unauth, c.total
	}
	return 0, 0
}
