package throttle

import (
	"fmt"
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
