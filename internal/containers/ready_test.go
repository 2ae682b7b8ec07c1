package containers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// dhcpLater is LXD whose containers have no address until leased.
type dhcpLater struct {
	LXD
	leased atomic.Bool
}

func (d *dhcpLater) Get(ctx context.Context, project, name string) (lxd.Instance, error) {
	in, err := d.LXD.Get(ctx, project, name)
	if !d.leased.Load() {
		in.IPv4 = ""
	}
	return in, err
}

func (d *dhcpLater) List(ctx context.Context, project string) ([]lxd.Instance, error) {
	ins, err := d.LXD.List(ctx, project)
	for i := range ins {
		if !d.leased.Load() {
			ins[i].IPv4 = ""
		}
	}
	return ins, err
}

// told records what the mapper heard, and whether the address was there.
type told struct {
	mu   sync.Mutex
	refs []ref.Ref
	addr []bool
}

func (t *told) withAddress() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.addr {
		if a {
			return true
		}
	}
	return false
}

// Scenario: launch waits for the address; LXD's event for the container
// wakes the watch at once, though its next read is an hour away, and the
// mapper hears of the address.
func TestWaitAddressWokenByEvent(t *testing.T) {
	s, fake, _ := newService(t)
	d := &dhcpLater{LXD: fake}
	s.lxd = d
	s.ready.every = time.Hour
	var heard told
	s.conf().OnChange = func(r ref.Ref) {
		heard.mu.Lock()
		heard.refs, heard.addr = append(heard.refs, r), append(heard.addr, d.leased.Load())
		heard.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
		t.Fatal(err)
	}
	got := make(chan Container, 1)
	go func() {
		ct, err := s.WaitAddress(ctx, "alice", "dev")
		if err != nil {
			t.Error(err)
		}
		got <- ct
	}()
	select {
	case ct := <-got:
		t.Fatalf("returned before the lease: %+v", ct)
	case <-time.After(200 * time.Millisecond):
	}
	d.leased.Store(true)
	start := time.Now()
	s.Observe(s.Project("alice"), "dev", "instance-started")
	ct := <-got
	if ct.IPv4 == "" || time.Since(start) > 5*time.Second {
		t.Fatalf("after the event: %+v in %s", ct, time.Since(start))
	}
	if !heard.withAddress() {
		t.Errorf("the mapper never heard of the address: %v", heard.refs)
	}
}

// Scenario: DHCP answers between the service's read and the mapper's (the
// race commit 9c179d2 fixed in the mapper): the watch still tells the
// mapper once the address is there, without waiting for a reconcile.
func TestAddressBetweenReads(t *testing.T) {
	s, fake, _ := newService(t)
	d := &dhcpLater{LXD: fake}
	s.lxd = d
	var heard told
	s.conf().OnChange = func(r ref.Ref) {
		heard.mu.Lock()
		heard.refs, heard.addr = append(heard.refs, r), append(heard.addr, d.leased.Load())
		heard.mu.Unlock()
		d.leased.Store(true) // right after the mapper's read
	}
	if _, err := s.Create(context.Background(), "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !heard.withAddress() {
		if time.Now().After(deadline) {
			t.Fatalf("the address came between the reads and the mapper never heard: %v", heard.refs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Scenario: waiting on a stopped container returns at once, without an
// address.
func TestWaitAddressStopped(t *testing.T) {
	s, _, _ := newService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	ct, err := s.WaitAddress(ctx, "alice", "dev")
	if err != nil || ct.IPv4 != "" || ctx.Err() != nil {
		t.Fatalf("stopped: %+v %v", ct, err)
	}
}
