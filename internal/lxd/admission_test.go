package lxd

import (
	"context"
	"sync"
	"testing"
	"time"
)

// At most max operations run at once; a freed slot goes to the users in
// turn, so that alice's burst does not hold bob back; a waiter that gives
// up holds nothing; a waiter is told its place.
func TestAdmission(t *testing.T) {
	a := &admission{max: 1}
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	var held []func()
	for i := 0; i < 1; i++ {
		r, err := a.acquire(ctx, "", "alice")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, r)
	}
	var wg sync.WaitGroup
	start := func(user string, note func(string)) {
		wg.Add(1)
		ready := make(chan struct{})
		go func() {
			defer wg.Done()
			c := ctx
			if note != nil {
				c = WithWaitNote(c, note)
			}
			close(ready)
			r, err := a.acquire(c, "", user)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, user)
			mu.Unlock()
			r()
		}()
		<-ready
		time.Sleep(20 * time.Millisecond) // queued in this order
	}
	var noted []string
	for i := 0; i < 3; i++ {
		start("alice", nil)
	}
	start("bob", func(s string) { noted = append(noted, s) })
	// A waiter that gives up leaves no trace.
	gone, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := a.acquire(gone, "", "carol"); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled wait was given a slot")
	}
	held[0]() // the slot frees: alice's first waiter, then bob in turn, then alice's others
	wg.Wait()
	if len(order) != 4 || order[0] != "alice" || order[1] != "bob" || order[2] != "alice" {
		t.Fatalf("turns: %v", order)
	}
	if len(noted) != 1 || noted[0] != "queued behind 2 operations on LXD" {
		t.Fatalf("bob was told %q", noted)
	}
	if m := a.members[""]; m.running != 0 || len(m.order) != 0 || len(m.waiting) != 0 {
		t.Fatalf("left: %+v", m)
	}
	// Members have lines of their own.
	r1, _ := a.acquire(ctx, "m1", "alice")
	c, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	r2, err := a.acquire(c, "m2", "alice")
	if err != nil {
		t.Fatalf("m2 waited for m1: %v", err)
	}
	r1()
	r2()
}

// An operation on an existing container waits in the line of the member
// it was last seen on, not in a shared one.
func TestMemberOfLastSeen(t *testing.T) {
	c := &Client{}
	if got := c.memberOf("lxcgate-alice", "box"); got != "" {
		t.Fatalf("unknown: %q", got)
	}
	c.cluster.last = map[string]Instance{"lxcgate-alice/box": {Name: "box", Project: "lxcgate-alice", Location: "member2"}}
	if got := c.memberOf("lxcgate-alice", "box"); got != "member2" {
		t.Fatalf("seen on member2: %q", got)
	}
	if got := c.memberOf("lxcgate-bob", "box"); got != "" {
		t.Fatalf("bob's box: %q", got)
	}
}
