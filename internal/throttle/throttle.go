// Package throttle holds the gateway's rate limits, for SSH and the web
// alike. Throttle slows down password guessing: failed logins are counted
// per source address and per account name (existing or not, so that a
// lockout reveals nothing), and past a limit further attempts are refused
// without being checked until the lockout ends. Rate is a token bucket per
// key, Sampler lets a few audit records per key through a period, and
// Conns caps the connections open per source.
package throttle

import (
	"slices"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
)

// Limits configures a Throttle.
type Limits struct {
	PerAccount int           // failures of one account name within Window
	PerAddress int           // failures from one source address within Window
	Window     time.Duration // how long a failure counts
	Lockout    time.Duration // how long a key stays locked once over its limit
	MaxEntries int           // accounts and addresses tracked at once; 0 means 100,000
}

// Throttle counts failures. It is safe for concurrent use.
type Throttle struct {
	limits Limits
	max    int
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	failures    []time.Time
	lockedUntil time.Time
}

// defaultMaxEntries bounds memory under a flood of distinct names or
// addresses (about 100 bytes an entry).
const defaultMaxEntries = 100_000

// New returns a Throttle with the given limits.
func New(l Limits) *Throttle {
	bound := l.MaxEntries
	if bound <= 0 {
		bound = defaultMaxEntries
	}
	// One failure may add an account and an address at once.
	bound = max(bound, 2)
	return &Throttle{limits: l, max: bound, now: time.Now, entries: map[string]*entry{}}
}

// SetClock replaces the clock (tests, and a web listener on its own).
func (t *Throttle) SetClock(now func() time.Time) {
	t.mu.Lock()
	t.now = now
	t.mu.Unlock()
}

// SetLimits changes the limits (SIGHUP); failures already counted stay
// and are judged by the new ones. MaxEntries stays as it was.
func (t *Throttle) SetLimits(l Limits) {
	t.mu.Lock()
	l.MaxEntries = t.limits.MaxEntries
	t.limits = l
	t.mu.Unlock()
}

// Keys name what is locked; the account part is the bounded safe form of
// the name, since names arrive from clients before authentication.
func accountKey(name string) string { return "account " + audit.SafeName(name) }
func addressKey(addr string) string { return "address " + audit.SafeName(addr) }

// Lock says what is locked out and until when.
type Lock struct {
	Key   string // "account NAME" or "address ADDR"
	Until time.Time
}

// Allowed reports whether an attempt for account from address may be
// checked now; when not, it says until when.
func (t *Throttle) Allowed(account, address string) (bool, time.Time) {
	l, locked := t.Locked(account, address)
	return !locked, l.Until
}

// Locked reports whether account or address is locked out, and which one
// (the one locked longest when both are).
func (t *Throttle) Locked(account, address string) (Lock, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var l Lock
	for _, k := range []string{accountKey(account), addressKey(address)} {
		if e := t.entries[k]; e != nil && now.Before(e.lockedUntil) && e.lockedUntil.After(l.Until) {
			l = Lock{Key: k, Until: e.lockedUntil}
		}
	}
	return l, !l.Until.IsZero()
}

// Failure records a failed attempt; it reports whether this failure locked
// the account or the address.
func (t *Throttle) Failure(account, address string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	ak, bk := accountKey(account), addressKey(address)
	t.makeRoom(now, ak, bk)
	a := t.add(ak, now, t.limits.PerAccount)
	b := t.add(bk, now, t.limits.PerAddress)
	return a || b
}

// AddressLocked reports whether address is locked out, and until when:
// for a door that has no account name to go with it (a web token).
func (t *Throttle) AddressLocked(address string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[addressKey(address)]; e != nil && t.now().Before(e.lockedUntil) {
		return e.lockedUntil, true
	}
	return time.Time{}, false
}

// AddressFailure records a failed attempt from address that names no
// account (a bad web token); it counts against the same per-address
// budget as SSH's failures, and reports whether it locked the address.
func (t *Throttle) AddressFailure(address string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	k := addressKey(address)
	t.makeRoom(now, k)
	return t.add(k, now, t.limits.PerAddress)
}

// Success clears the account's failures (not the address's: one good login
// must not reset an attacker's budget on other accounts).
func (t *Throttle) Success(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, accountKey(account))
}

// Len returns the number of tracked accounts and addresses.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
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

// makeRoom evicts entries so that adding keep's keys cannot take the map
// past t.max. Forgotten first: entries with nothing recent; then unlocked
// ones, oldest failure first; then, only if a flood has locked everything,
// the locks that end soonest. A bounded map loses some locks under such a
// flood, rather than all the gateway's memory. A batch goes at once so that
// a full map does not cost a scan per failure.
func (t *Throttle) makeRoom(now time.Time, keep ...string) {
	need := 0
	for _, k := range keep {
		if t.entries[k] == nil {
			need++
		}
	}
	if len(t.entries)+need <= t.max {
		return
	}
	since := now.Add(-t.limits.Window)
	for k, e := range t.entries {
		if !now.Before(e.lockedUntil) && len(recent(e.failures, since)) == 0 {
			delete(t.entries, k)
		}
	}
	target := t.max - need - t.max/16
	if len(t.entries) <= t.max-need {
		return
	}
	type cand struct {
		key    string
		locked bool
		when   time.Time // lock end, or last failure
	}
	cands := make([]cand, 0, len(t.entries))
	for k, e := range t.entries {
		if slices.Contains(keep, k) {
			continue
		}
		c := cand{key: k, locked: now.Before(e.lockedUntil), when: e.lockedUntil}
		if !c.locked && len(e.failures) > 0 {
			c.when = e.failures[len(e.failures)-1]
		}
		cands = append(cands, c)
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.locked != b.locked {
			if a.locked {
				return 1
			}
			return -1
		}
		return a.when.Compare(b.when)
	})
	for _, c := range cands {
		if len(t.entries) <= max(target, 0) {
			break
		}
		delete(t.entries, c.key)
	}
}
