package containers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/nvsmi"
)

// With [gpu] mig, a GPU split into MIG devices is offered as those
// devices: by UUID or any free one of a profile, each given as an LXD mig
// device and held alone; a GPU not split stays whole.
func TestMIG(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	s.conf().MIG = true
	s.conf().Quota.GPUs = 4
	s.SetQuota(ctx, "bob", QuotaChange{GPUs: ptr(4)})
	fake.HostGPUs = []lxd.GPU{{ID: "0", Vendor: "NVIDIA", Model: "H200", PCI: "0000:19:00.0"}, {ID: "1", Vendor: "NVIDIA", Model: "H200", PCI: "0000:3b:00.0"}}
	s.SetMIG(func(context.Context) (map[string][]nvsmi.MIG, error) {
		return map[string][]nvsmi.MIG{"0000:19:00.0": {
			{Profile: "3g.71gb", Device: 0, UUID: "MIG-0e1d2c3b-4a59-5687-a9b8-c7d6e5f4a3b2"},
			{Profile: "1g.18gb", Device: 2, UUID: "MIG-2a3b4c5d-6e7f-7809-c1d0-e9f8a7b6c5d4"},
			{Profile: "1g.18gb", Device: 3, UUID: "MIG-3b4c5d6e-7f80-8910-d2e1-f0a9b8c7d6e5"},
		}}, nil
	})
	gs, err := s.GPUs(ctx)
	if err != nil || len(gs) != 4 || gs[0].ID != "0/3g.71gb/MIG-0e1d2c3b-4a59-5687-a9b8-c7d6e5f4a3b2" || gs[3].PCI != "0000:3b:00.0" {
		t.Fatalf("gpus: %+v %v", gs, err)
	}
	c, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "1g.18gb"})
	if err != nil || c.GPUs[0] != "MIG-2a3b4c5d-6e7f-7809-c1d0-e9f8a7b6c5d4" {
		t.Fatalf("by profile: %+v %v", c, err)
	}
	in := fake.Instances["lxcgate-alice/a"]
	if len(in.GPUs) != 1 || !lxd.SameGPU(in.GPUs[0], "MIG-2a3b4c5d-6e7f-7809-c1d0-e9f8a7b6c5d4") {
		t.Fatalf("device: %+v", in.GPUs)
	}
	d := lxd.GPUDevice(lxd.MIGDeviceID("MIG-2a3b4c5d-6e7f-7809-c1d0-e9f8a7b6c5d4", "0000:19:00.0"))
	if d["gputype"] != "mig" || d["mig.uuid"] != "MIG-2a3b4c5d-6e7f-7809-c1d0-e9f8a7b6c5d4" || d["pci"] != "0000:19:00.0" || lxd.GPUOf(d) != "MIG-2a3b4c5d-6e7f-7809-c1d0-e9f8a7b6c5d4@0000:19:00.0" {
		t.Fatalf("LXD device: %v", d)
	}
	// The other 1g.18gb goes to bob; a third is refused; a held one by UUID too.
	if c, err := s.Create(ctx, "bob", CreateRequest{Name: "b", GPU: "1g.18gb"}); err != nil || c.GPUs[0] != "MIG-3b4c5d6e-7f80-8910-d2e1-f0a9b8c7d6e5" {
		t.Fatalf("bob's: %+v %v", c, err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "c", GPU: "1g.18gb"}); !errors.Is(err, ErrGPUHeld) {
		t.Fatalf("a third 1g.18gb: %v", err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "c", GPU: "mig-2a3b4c5d-6e7f-7809-c1d0-e9f8a7b6c5d4"}); err == nil || !strings.Contains(err.Error(), "held") {
		t.Fatalf("alice's MIG device by UUID: %v", err)
	}
	// The whole GPU 1 and the 3g slice are still free: --gpus 2 takes them.
	if c, err := s.Create(ctx, "bob", CreateRequest{Name: "d", GPUs: 2}); err != nil || len(c.GPUs) != 2 {
		t.Fatalf("--gpus 2 over a slice and a whole GPU: %+v %v", c, err)
	}
	// The books stay true across a start: the device is the booked one.
	if err := s.Start(ctx, "alice", "a"); err != nil {
		t.Fatal(err)
	}
	if in := fake.Instances["lxcgate-alice/a"]; len(in.GPUs) != 1 || !lxd.SameGPU(in.GPUs[0], "MIG-2a3b4c5d-6e7f-7809-c1d0-e9f8a7b6c5d4") {
		t.Fatalf("after a start: %+v", in.GPUs)
	}
}
