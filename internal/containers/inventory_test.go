package containers

import (
	"context"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// The inventory counts the gateway's containers by status and the GPUs
// they hold, as of the last AllMappings (the full reconcile).
func TestInventory(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	fake.HostGPUs = []lxd.GPU{{ID: "0", PCI: "0000:01:00.0"}, {ID: "1", PCI: "0000:02:00.0"}}
	if inv := s.Inventory(); len(inv.ByStatus) != 0 || inv.GPUs != 0 {
		t.Fatalf("before any reconcile: %+v", inv)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "one", GPU: "0", Start: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "two"}); err != nil {
		t.Fatal(err)
	}
	// Not the gateway's: outside its project prefix.
	fake.Instances["other/x"] = &lxd.Instance{Name: "x", Project: "other", Status: "Running", Running: true}
	if _, err := s.AllMappings(ctx); err != nil {
		t.Fatal(err)
	}
	inv := s.Inventory()
	if inv.ByStatus["Running"] != 1 || inv.ByStatus["Stopped"] != 1 || len(inv.ByStatus) != 2 || inv.GPUs != 1 {
		t.Fatalf("inventory: %+v", inv)
	}
}
