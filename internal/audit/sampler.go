package audit

import (
	"sync"
	"time"
)

// Sampler lets at most one event per key through per period and counts the
// rest, so that a flood of identical refusals (a sprayer hammering a locked
// account) writes a record a minute instead of one per attempt. It holds at
// most max keys; past that, new keys share one overflow key. Safe for
// concurrent use.
type Sampler struct {
	period time.Duration
	max    int
	now    func() time.Time

	mu         sync.Mutex
	seen       map[string]*sample
	unreported int // suppressed counts of keys forgotten before their next record
}

type sample struct {
	last       time.Time
	suppressed int
}

// overflowKey stands for every key that finds the sampler full.
const overflowKey = "\x00overflow"

// NewSampler returns a Sampler with the given period and bound on keys.
func NewSampler(period time.Duration, max int) *Sampler {
	return &Sampler{period: period, max: max, now: time.Now, seen: map[string]*sample{}}
}

// Allow reports whether an event for key should be recorded now and, when
// it should, how many events for key were suppressed since the last
// recorded one.
func (s *Sampler) Allow(key string) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e := s.seen[key]
	if e == nil {
		if len(s.seen) >= s.max {
			s.expire(now)
		}
		if len(s.seen) >= s.max {
			key = overflowKey
			e = s.seen[key]
		}
		if e == nil {
			e = &sample{}
			s.seen[key] = e
			e.last = now
			return true, 0
		}
	}
	if now.Sub(e.last) < s.period {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// Drain forgets keys whose period has passed and returns how many events
// were suppressed and never reported in a later record, for one summary
// log line.
func (s *Sampler) Drain() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.now())
	n := s.unreported
	s.unreported = 0
	return n
}

func (s *Sampler) expire(now time.Time) {
	for k, e := range s.seen {
		if now.Sub(e.last) >= s.period {
			s.unreported += e.suppressed
			delete(s.seen, k)
		}
	}
}
