// Package throttle slows down password guessing: failed logins are counted
// per source address and per account name (existing or not, so that a
// lockout reveals nothing), and past a limit further attempts are refused
// without being checked until the lockout ends.
package throttle

import (
	"sync"
	"time"
)

// Limits configures a Throttle.
type Limits struct {
	PerAccount int           // failures of one account name within Window
	PerAddress int           // failures from one source address within Window
	Window     time.Duration // how long a failure counts
	Lockout    time.Duration // how long a key stays locked once over its limit
}

// Throttle counts failures. It is safe for concurrent use.
type Throttle struct {
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	failures    []time.Time
	lockedUntil time.Time
}

// maxEntries bounds memory under a flood of distinct names or addresses;
// past it, entries with nothing recent are dropped first.
const maxEntries = 100_000

// New returns a Throttle with the given limits.
func New(l Limits) *Throttle {
	return &Throttle{limits: l, now: time.Now, entries: map[string]*entry{}}
}

func accountKey(name string) string { return "u:" + name }
func addressKey(addr string) string { return "a:" + addr }

// Allowed reports whether an attempt for account from address may be
// checked now; when not, it says until when.
func (t *Throttle) Allowed(account, address string) (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var until time.Time
	for _, k := range []string{accountKey(account), addressKey(address)} {
		if e := t.entries[k]; e != nil && now.Before(e.lockedUntil) && e.lockedUntil.After(until) {
			until = e.lockedUntil
		}
	}
	return until.IsZero(), until
}

// Failure records a failed attempt; it reports whether this failure locked
// the account or the address.
func (t *Throttle) Failure(account, address string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.entries) >= maxEntries {
		t.prune(now)
	}
	a := t.add(accountKey(account), now, t.limits.PerAccount)
	b := t.add(addressKey(address), now, t.limits.PerAddress)
	return a || b
}

// Success clears the account's failures (not the address's: one good login
// must not reset an attacker's budget on other accounts).
func (t *Throttle) Success(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, accountKey(account))
}

func (t *Throttle) add(key string, now time.Time, limit int) bool {
	if limit <= 0 {
		return false
	}
	e := t.entries[key]
	if e == nil {
		e = &entry{}
		t.entries[key] = e
	}
	e.failures = recent(e.failures, now.Add(-t.limits.Window))
	e.failures = append(e.failures, now)
	if len(e.failures) >= limit && !now.Before(e.lockedUntil) {
		e.lockedUntil = now.Add(t.limits.Lockout)
		e.failures = e.failures[:0]
		return true
	}
	return false
}

func recent(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}

func (t *Throttle) prune(now time.Time) {
	since := now.Add(-t.limits.Window)
	for k, e := range t.entries {
		if now.After(e.lockedUntil) && len(recent(e.failures, since)) == 0 {
			delete(t.entries, k)
		}
	}
	// Still full: everyone unlocked goes, oldest information first is not worth tracking.
	if len(t.entries) >= maxEntries {
		for k, e := range t.entries {
			if now.After(e.lockedUntil) {
				delete(t.entries, k)
			}
		}
	}
}
