package throttle

import (
	"sync"
	"time"
)

// Rate is a token bucket per key (a source address, a user): burst at
// once, refilled at burst per period. It is safe for concurrent use. The map is bounded: past maxKeys, full buckets
// (addresses that have been quiet) are forgotten first.
type Rate struct {
	burst  float64
	period time.Duration
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxKeys bounds the buckets held at once.
const maxKeys = 50_000

// NewRate returns a Rate; now is the clock (time.Now when nil).
func NewRate(burst int, period time.Duration, now func() time.Time) *Rate {
	if now == nil {
		now = time.Now
	}
	return &Rate{burst: float64(burst), period: period, now: now, m: map[string]*bucket{}}
}

// refill brings key's bucket up to date and returns it.
func (l *Rate) refill(key string) *bucket {
	now := l.now()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= maxKeys {
			l.forget(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.m[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.burst/l.period.Seconds())
	b.at = now
	return b
}

// Take spends one token of key's bucket; false when it is empty.
func (l *Rate) Take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Empty reports whether key's bucket has no token left, spending none.
func (l *Rate) Empty(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refill(key).tokens < 1
}

// forget drops the buckets that are full again, or, if none is, all.
func (l *Rate) forget(now time.Time) {
	for k, b := range l.m {
		if b.tokens+now.Sub(b.at).Seconds()*l.burst/l.period.Seconds() >= l.burst {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxKeys {
		clear(l.m)
	}
}
