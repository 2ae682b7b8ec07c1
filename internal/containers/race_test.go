package containers

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// twin is a second Service on the same database and LXD, as a second
// gateway process would be: it shares no in-process lock with s.
func twin(s *Service) *Service {
	return New(s.db, s.lxd, *s.conf(), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// race runs n creates at once, alternating between two services on one
// database, and returns their errors.
func race(t *testing.T, s *Service, n int, req func(i int) (string, CreateRequest)) []error {
	t.Helper()
	services := []*Service{s, twin(s)}
	for _, sv := range services {
		sv.checked = func() { time.Sleep(time.Millisecond) }
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			user, r := req(i)
			<-start
			_, errs[i] = services[i%2].Create(ctx0, user, r)
		}(i)
	}
	close(start)
	wg.Wait()
	return errs
}

// Twenty sessions of one user, on two gateways, race for the last slot:
// exactly one gets it, every other is told by the gateway's own check that
// the quota is full (LXD's project limit, the second line, must not be
// what stops them).
func TestRaceForTheLastSlot(t *testing.T) {
	s, fake, _ := newService(t)
	s.conf().Quota.Containers = 1
	errs := race(t, s, 20, func(i int) (string, CreateRequest) {
		return "alice", CreateRequest{Name: fmt.Sprintf("c%d", i)}
	})
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "containers would be 2, your limit is 1"):
			t.Errorf("lost otherwise than by the quota check: %v", err)
		}
	}
	if won != 1 || fake.Count() != 1 || len(s.Names(ctx0, "alice")) != 1 {
		t.Fatalf("%d won, %d instances, names %v", won, fake.Count(), s.Names(ctx0, "alice"))
	}
}

// Two users race for one exclusive GPU: one gets it.
func TestRaceForOneGPU(t *testing.T) {
	s, fake, _ := newService(t)
	fake.HostGPUs = []lxd.GPU{{ID: "0", Vendor: "NVIDIA", Model: "H100", PCI: "0000:01:00.0", UUID: "GPU-aaaa"}}
	s.conf().Quota.Containers, s.conf().Quota.GPUs, s.conf().Quota.CPU, s.conf().Quota.Memory = 20, 20, 20, 20<<30
	users := []string{"alice", "bob"}
	errs := race(t, s, 20, func(i int) (string, CreateRequest) {
		return users[i/2%2], CreateRequest{Name: fmt.Sprintf("g%d", i), GPU: "0"}
	})
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !strings.Contains(err.Error(), "held by another container"):
			t.Errorf("lost otherwise than to the holder: %v", err)
		}
	}
	gs, err := s.GPUs(ctx0)
	if won != 1 || err != nil || len(gs[0].Holders) != 1 {
		t.Fatalf("%d won; holders %+v %v", won, gs, err)
	}
}

// Ten creates race for a range with room for exactly their ports: all get
// ports, no two the same; the next finds the range used up.
func TestRaceForHostPorts(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	first := ln.Addr().(*net.TCPAddr).Port + 1
	ln.Close()
	s, _ := newPortService(t, first, first+19) // 10 containers x 2 services
	s.conf().Quota.Containers, s.conf().Quota.CPU, s.conf().Quota.Memory = 20, 20, 20<<30
	users := []string{"alice", "bob"}
	errs := race(t, s, 10, func(i int) (string, CreateRequest) {
		return users[i%2], CreateRequest{Name: fmt.Sprintf("p%d", i)}
	})
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrNoPort) {
			t.Fatal(err)
		}
	}
	all, err := s.List(ctx0, "alice", true)
	if err != nil {
		t.Fatal(err)
	}
	taken := map[int]string{}
	for _, c := range all {
		for _, p := range c.Ports {
			if other, dup := taken[p.HostPort]; dup {
				t.Fatalf("host port %d given to %s and %s/%s", p.HostPort, other, c.Owner, c.Name)
			}
			taken[p.HostPort] = c.Owner + "/" + c.Name
		}
	}
	// A port another program listens on is skipped, so a few creates may
	// have found the range short; none may have half its ports.
	if len(taken) != 2*len(all) {
		t.Fatalf("%d ports for %d containers", len(taken), len(all))
	}
	if len(all) == 10 {
		if _, err := s.Create(ctx0, "alice", CreateRequest{Name: "more"}); !errors.Is(err, ErrNoPort) {
			t.Fatalf("range used up: %v", err)
		}
	}
}
