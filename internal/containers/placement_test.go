package containers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// newCluster is a service on three members: member2 has the most free
// memory, member3 (group gpu) two simulated GPUs.
func newCluster(t *testing.T) (*Service, *lxdtest.Fake) {
	t.Helper()
	s, fake, _ := newService(t)
	s.conf().Quota.Containers, s.conf().Quota.GPUs = 6, 4
	fake.Cluster = []lxd.Member{
		{Name: "member1", Status: "Online", Online: true, Groups: []string{"default"}, SimGPUs: -1, Subnet: "10.200.1.128/25"},
		{Name: "member2", Status: "Online", Online: true, Groups: []string{"default"}, SimGPUs: -1, Subnet: "10.200.2.128/25"},
		{Name: "member3", Status: "Online", Online: true, Groups: []string{"default", "gpu"}, SimGPUs: 2, Subnet: "10.200.3.128/25"},
	}
	fake.Resources = map[string]lxd.Resources{
		"member1": {MemoryTotal: 4 << 30, MemoryUsed: 3 << 30, CPUs: 2},
		"member2": {MemoryTotal: 4 << 30, MemoryUsed: 1 << 30, CPUs: 2},
		"member3": {MemoryTotal: 4 << 30, MemoryUsed: 2 << 30, CPUs: 4},
	}
	return s, fake
}

func TestPlacement(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	c, err := s.Create(ctx, "alice", CreateRequest{Name: "a", Start: true})
	if err != nil || c.Host != "member2" || !strings.Contains(c.Placement, "most free memory") {
		t.Fatalf("by memory: %+v %v", c, err)
	}
	if in := fake.Instances["lxcgate-alice/a"]; in.Routed != "10.200.2.130" || in.IPv4 != "10.200.2.130" {
		t.Fatalf("routed address: %+v", in)
	}
	c, err = s.Create(ctx, "alice", CreateRequest{Name: "g", GPU: "all"})
	if err != nil || c.Host != "member3" || c.Placement != "2 of 2 GPUs free" || c.GPUs[0] != "member3/all" {
		t.Fatalf("by GPUs: %+v %v", c, err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "g2", GPU: "sim0"}); !errors.Is(err, ErrGPUHeld) {
		t.Fatalf("all GPUs held: %v", err)
	}
	c, err = s.Create(ctx, "bob", CreateRequest{Name: "h", Host: "member1"})
	if err != nil || c.Host != "member1" || c.Placement != "asked for" {
		t.Fatalf("--host: %+v %v", c, err)
	}
	for _, tc := range []struct{ host, want string }{
		{"nosuch", "no cluster member"}, {"member1; rm", "no cluster member"},
	} {
		if _, err := s.Create(ctx, "bob", CreateRequest{Name: "x", Host: tc.host}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--host %q: %v", tc.host, err)
		}
	}
	gs, err := s.GPUs(ctx)
	if err != nil || len(gs) != 2 || gs[0].Host != "member3" || len(gs[0].Holders) != 1 || gs[0].Holders[0] != "alice/g" {
		t.Fatalf("gpus: %+v %v", gs, err)
	}
}

func TestPlacementGroupAndOffline(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	g := "gpu"
	if _, err := s.SetQuota(ctx, "bob", QuotaChange{Hosts: &g}); err != nil {
		t.Fatal(err)
	}
	bad := "nogroup"
	if _, err := s.SetQuota(ctx, "bob", QuotaChange{Hosts: &bad}); err == nil {
		t.Fatal("a group no member is in was taken")
	}
	c, err := s.Create(ctx, "bob", CreateRequest{Name: "b"})
	if err != nil || c.Host != "member3" {
		t.Fatalf("bob is held to group gpu: %+v %v", c, err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "b2", Host: "member2"}); !errors.Is(err, ErrNoHost) {
		t.Fatalf("--host outside the group: %v", err)
	}
	fake.SetOnline("member2", false)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "o", Host: "member2"}); err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("--host of an offline member: %v", err)
	}
	fake.SetOnline("member2", true)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", Host: "member2", Start: true}); err != nil {
		t.Fatal(err)
	}
	fake.SetOnline("member2", false)
	list, err := s.List(ctx, "alice", false)
	if err != nil || len(list) != 1 || list[0].State != "unreachable (member2 offline)" {
		t.Fatalf("list: %+v %v", list, err)
	}
	err = s.Stop(ctx, "alice", "a", false)
	if !errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("stop on an offline member: %v", err)
	}
	d, err := s.AllMappings(ctx)
	if err != nil || len(d.Unknown) != 1 || d.Unknown[0] != (ref.Ref{Owner: "alice", Name: "a"}) || len(d.Mappings) != 0 {
		t.Fatalf("mappings: %+v %v", d, err)
	}
	if _, err := s.Mappings(ctx, ref.Ref{Owner: "alice", Name: "a"}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("one container's mappings must not say none: %v", err)
	}
	if err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List(ctx, "alice", false); len(list) != 1 || len(list[0].Ports) != len(s.conf().Services) {
		t.Fatalf("reconcile with a member away lost something: %+v", list)
	}
	fake.SetOnline("member2", true)
	if list, _ := s.List(ctx, "alice", false); list[0].State != "running" || list[0].IPv4 != "10.200.2.130" {
		t.Fatalf("back: %+v", list)
	}
}

func TestMove(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", Host: "member1", Start: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, "alice", "a", "member2"); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("running: %v", err)
	}
	if err := s.Stop(ctx, "alice", "a", true); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, "alice", "a", "member2"); err != nil {
		t.Fatal(err)
	}
	if in := fake.Instances["lxcgate-alice/a"]; in.Location != "member2" || !strings.HasPrefix(in.Routed, "10.200.2.") {
		t.Fatalf("after move: %+v", in)
	}
	if err := s.Move(ctx, "bob", "a", "member1"); !errors.Is(err, ErrNoSuch) {
		t.Fatalf("another's container: %v", err)
	}
}

// Launches at once on one member never share an address.
func TestRoutedAddressesUnique(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	s.conf().Quota.Containers, s.conf().Quota.CPU, s.conf().Quota.Memory = 10, 10, 10<<30
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Create(ctx, "alice", CreateRequest{Name: "c" + string(rune('a'+i)), Host: "member1"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, in := range fake.Instances {
		if seen[in.Routed] {
			t.Fatalf("address %s given twice", in.Routed)
		}
		seen[in.Routed] = true
	}
}

// Members alike in memory and CPUs fill evenly.
func TestPlacementSpreadsOverEqualMembers(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	for m := range fake.Resources {
		fake.Resources[m] = lxd.Resources{MemoryTotal: 4 << 30, MemoryUsed: 1 << 30, CPUs: 2}
	}
	seen := map[string]bool{}
	for _, n := range []string{"a", "b", "c"} {
		c, err := s.Create(ctx, "alice", CreateRequest{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		seen[c.Host] = true
	}
	if len(seen) != 3 {
		t.Fatalf("three launches on equal members went to %v", seen)
	}
}
