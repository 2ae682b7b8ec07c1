package throttle

import (
	"sync"
	"time"
)

// Sampler lets at most burst events per key through per period (one, from
// NewSampler) and counts the rest, so that a flood of identical refusals (a sprayer hammering a locked
// account) writes a record a minute instead of one per attempt. It holds at
// most max keys; past that, new keys share one overflow key. Safe for
// concurrent use.
type Sampler struct {
	period time.Duration
	burst  int
	max    int
	now    func() time.Time

	mu         sync.Mutex
	seen       map[string]*sample
	unreported int // suppressed counts of keys forgotten before their next record
}

type sample struct {
	last       time.Time // when the key's period began
	let        int       // events let through since last
	suppressed int
}

// overflowKey stands for every key that finds the sampler full.
const overflowKey = "\x00overflow"

// NewSampler returns a Sampler with the given period and bound on keys.
func NewSampler(period time.Duration, max int) *Sampler {
	return NewBurstSampler(period, 1, max)
}

// NewBurstSampler returns a Sampler that lets burst events per key through
// in each period.
func NewBurstSampler(period time.Duration, burst, keys int) *Sampler {
	return &Sampler{period: period, burst: max(burst, 1), max: keys, now: time.Now, seen: map[string]*sample{}}
}

// SetClock replaces the clock (tests).
func (s *Sampler) SetClock(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
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
			s.seen[key] = &sample{last: now, let: 1}
			return true, 0
		}
	}
	if now.Sub(e.last) < s.period {
		if e.let < s.burst {
			e.let++
			return true, 0
		}
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.let, e.suppressed = now, 1, 0
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
