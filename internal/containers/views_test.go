package containers

import (
	"context"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// A container holding GPUs opens their record at create and closes it at
// delete: the history the web page's occupancy chart is drawn from.
func TestGPUHistory(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	fake.HostGPUs = []lxd.GPU{{ID: "0", PCI: "0000:01:00.0"}, {ID: "1", PCI: "0000:02:00.0"}}
	start := time.Now().Add(-time.Second)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "gpu", GPU: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "cpu"}); err != nil {
		t.Fatal(err)
	}
	spans, err := s.GPUHistory(ctx, start)
	if err != nil || len(spans) != 1 || spans[0].GPU != "0000:02:00.0" || spans[0].Owner != "alice" || !spans[0].Until.IsZero() {
		t.Fatalf("after create: %+v %v", spans, err)
	}
	if err := s.Delete(ctx, "alice", "gpu", true); err != nil {
		t.Fatal(err)
	}
	spans, _ = s.GPUHistory(ctx, start)
	if len(spans) != 1 || spans[0].Until.IsZero() {
		t.Fatalf("after delete: %+v", spans)
	}
	views := ViewGPUs([]GPUInfo{{GPU: fake.HostGPUs[0], Holders: []string{"alice/a", "bob/b"}}}, "bob", false)
	if got := views[0].Holders; got[0] != AnotherUser || got[1] != "bob/b" {
		t.Fatalf("bob sees %v", got)
	}
	if got := ViewGPUs([]GPUInfo{{GPU: fake.HostGPUs[0], Holders: []string{"alice/a"}}}, "root", true)[0].Holders; got[0] != "alice/a" {
		t.Fatalf("an admin sees %v", got)
	}
}
