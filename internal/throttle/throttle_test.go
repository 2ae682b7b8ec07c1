package throttle

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newThrottle(c *clock) *Throttle {
	th := New(Limits{PerAccount: 3, PerAddress: 5, Window: time.Minute, Lockout: 5 * time.Minute})
	th.now = c.now
	return th
}

func TestAccountLockout(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	th := newThrottle(c)
	for i := 0; i < 3; i++ {
		if ok, _ := th.Allowed("alice", "10.0.0.1"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
		th.Failure("alice", fmt.Sprintf("10.0.0.%d", i))
	}
	if ok, until := th.Allowed("alice", "10.9.9.9"); ok || !until.Equal(c.t.Add(5*time.Minute)) {
		t.Fatalf("alice not locked from a new address: %v %v", ok, until)
	}
	// A name that does not exist locks the same way: nothing tells them apart.
	for i := 0; i < 3; i++ {
		th.Failure("nosuchuser", fmt.Sprintf("10.1.0.%d", i))
	}
	if ok, _ := th.Allowed("nosuchuser", "10.9.9.8"); ok {
		t.Fatal("unknown name not locked")
	}
	c.t = c.t.Add(5*time.Minute + time.Second)
	if ok, _ := th.Allowed("alice", "10.0.0.1"); !ok {
		t.Fatal("still locked after the lockout")
	}
}

func TestAddressLockout(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	th := newThrottle(c)
	for i := 0; i < 5; i++ {
		th.Failure(fmt.Sprintf("user%d", i), "10.0.0.1")
	}
	if ok, _ := th.Allowed("fresh", "10.0.0.1"); ok {
		t.Fatal("address spraying many accounts not locked")
	}
	if ok, _ := th.Allowed("fresh", "10.0.0.2"); !ok {
		t.Fatal("another address locked")
	}
}

func TestWindowForgets(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	th := newThrottle(c)
	th.Failure("alice", "a")
	th.Failure("alice", "a")
	c.t = c.t.Add(2 * time.Minute)
	th.Failure("alice", "a")
	if ok, _ := th.Allowed("alice", "a"); !ok {
		t.Fatal("old failures counted")
	}
	th.Success("alice")
	th.Failure("alice", "a")
	th.Failure("alice", "a")
	if ok, _ := th.Allowed("alice", "a"); !ok {
		t.Fatal("success did not reset the account")
	}
}

// The map never holds more than its bound, even when a flood from many
// addresses has locked every entry (the old bound was soft then).
func TestStrictBound(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	for _, tc := range []struct {
		name       string
		perAccount int
		perAddress int
	}{
		{"nothing locked", 100, 100},
		{"every entry locked", 1, 1},
		{"addresses locked", 100, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const bound = 8
			th := New(Limits{PerAccount: tc.perAccount, PerAddress: tc.perAddress, Window: time.Minute, Lockout: time.Hour, MaxEntries: bound})
			th.now = c.now
			for i := 0; i < 1000; i++ {
				th.Failure(fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
				if n := th.Len(); n > bound {
					t.Fatalf("after %d failures: %d entries, bound %d", i+1, n, bound)
				}
			}
			// The latest failure is never the one evicted.
			if tc.perAddress == 1 {
				if ok, _ := th.Allowed("someone", "10.0.3.231"); ok {
					t.Fatal("the newest locked address was evicted")
				}
			}
		})
	}
}

// Stale entries go before unlocked ones, unlocked before locked.
func TestEvictionOrder(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	th := New(Limits{PerAccount: 2, PerAddress: 100, Window: time.Minute, Lockout: time.Hour, MaxEntries: 4})
	th.now = c.now
	th.Failure("victim", "a") // account victim, address a
	th.Failure("victim", "a") // victim locked
	c.t = c.t.Add(time.Second)
	th.Failure("x", "a") // account x (unlocked)
	c.t = c.t.Add(time.Second)
	th.Failure("y", "b") // needs two slots: unlocked entries go, the lock stays
	if n := th.Len(); n > 4 {
		t.Fatalf("%d entries", n)
	}
	if ok, _ := th.Allowed("victim", "z"); ok {
		t.Fatal("a lock was evicted while unlocked entries remained")
	}
}

func TestLockedSaysWhich(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	th := newThrottle(c)
	for i := 0; i < 5; i++ {
		th.Failure(fmt.Sprintf("u%d", i), "10.0.0.1")
	}
	l, locked := th.Locked("fresh", "10.0.0.1")
	if !locked || l.Key != "address 10.0.0.1" {
		t.Fatalf("Locked = %+v %v", l, locked)
	}
	for i := 0; i < 3; i++ {
		th.Failure("bob", fmt.Sprintf("10.2.0.%d", i))
	}
	if l, _ := th.Locked("bob", "10.9.0.1"); l.Key != "account bob" {
		t.Fatalf("Locked = %+v", l)
	}
	// A hostile name is keyed by its bounded safe form.
	long := strings.Repeat("\x00", 20000)
	for i := 0; i < 3; i++ {
		th.Failure(long, fmt.Sprintf("10.3.0.%d", i))
	}
	l, locked = th.Locked(long, "10.9.0.2")
	if !locked || len(l.Key) > 200 {
		t.Fatalf("long name: %v, key of %d bytes", locked, len(l.Key))
	}
}

// Limits changed by a reload judge the failures already counted.
func TestSetLimits(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	th := newThrottle(c)
	th.Failure("alice", "10.0.0.1")
	th.Failure("alice", "10.0.0.2")
	if ok, _ := th.Allowed("alice", "10.0.0.3"); !ok {
		t.Fatal("locked below the limit")
	}
	th.SetLimits(Limits{PerAccount: 2, PerAddress: 5, Window: time.Minute, Lockout: time.Minute})
	th.Failure("alice", "10.0.0.3")
	if ok, until := th.Allowed("alice", "10.0.0.4"); ok || !until.Equal(c.t.Add(time.Minute)) {
		t.Fatalf("new limit and lockout not applied: %v %v", ok, until)
	}
}
