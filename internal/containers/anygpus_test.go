package containers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// --gpus N takes whichever N GPUs nobody holds, on this host or on the
// member that has them; too many, or none free, is one clear line.
func TestAnyGPUs(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	s.conf().Quota.GPUs = 4
	s.SetQuota(ctx, "bob", QuotaChange{GPUs: ptr(4)})
	fake.HostGPUs = []lxd.GPU{
		{ID: "0", Vendor: "NVIDIA", Model: "H100", PCI: "0000:01:00.0"},
		{ID: "1", Vendor: "NVIDIA", Model: "H100", PCI: "0000:02:00.0"},
		{ID: "2", Vendor: "NVIDIA", Model: "H100", PCI: "0000:03:00.0"},
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "1"}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Create(ctx, "bob", CreateRequest{Name: "b", GPUs: 2})
	if err != nil || strings.Join(c.GPUs, ",") != "0000:01:00.0,0000:03:00.0" {
		t.Fatalf("any 2: %+v %v", c, err)
	}
	if in := fake.Instances["lxcgate-bob/b"]; len(in.GPUs) != 2 {
		t.Fatalf("devices: %+v", in.GPUs)
	}
	for _, tc := range []struct {
		req  CreateRequest
		want string
	}{
		{CreateRequest{Name: "c", GPUs: 1}, "1 GPUs asked, 0 free on this host now"},
		{CreateRequest{Name: "c", GPUs: 4}, "--gpus 4: this host has 3 GPUs"},
		{CreateRequest{Name: "c", GPUs: -1}, "ask for 1 to 64"},
		{CreateRequest{Name: "c", GPUs: 1000}, "ask for 1 to 64"},
		{CreateRequest{Name: "c", GPUs: 1, GPU: "0"}, "give one of the two"},
	} {
		if _, err := s.Create(ctx, "bob", tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.want)
		}
	}
	if _, ok := fake.Instances["lxcgate-bob/c"]; ok {
		t.Fatal("a refused create left an instance")
	}
	// bob's GPUs back: two are free, not three.
	s.Delete(ctx, "bob", "b", true)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "z", GPUs: 3}); err == nil || !strings.Contains(err.Error(), "3 GPUs asked, 2 free") {
		t.Fatalf("3 GPUs with 2 free: %v", err)
	}
}

func TestAnyGPUsOnACluster(t *testing.T) {
	ctx := context.Background()
	s, _ := newCluster(t)
	c, err := s.Create(ctx, "alice", CreateRequest{Name: "g", GPUs: 1})
	if err != nil || c.Host != "member3" || len(c.GPUs) != 1 || c.GPUs[0] != "member3/sim0" {
		t.Fatalf("any 1 on the cluster: %+v %v", c, err)
	}
	c, err = s.Create(ctx, "bob", CreateRequest{Name: "g", GPUs: 1})
	if err != nil || c.GPUs[0] != "member3/sim1" {
		t.Fatalf("the other one: %+v %v", c, err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "h", GPUs: 1}); !errors.Is(err, ErrGPUHeld) {
		t.Fatalf("none free: %v", err)
	}
}

// 'gpus' shows each local GPU's use where nvidia-smi tells it.
func TestGPUStats(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	fake.HostGPUs = []lxd.GPU{{ID: "0", PCI: "0000:07:00.0"}, {ID: "1", PCI: "0000:0f:00.0"}}
	s.SetGPUStats(func(context.Context) (map[string]GPUStat, error) {
		return map[string]GPUStat{"0000:07:00.0": {Util: 87, MemUsed: 30 << 30, MemTotal: 40 << 30}, "0000:0f:00.0": {Util: -1}}, nil
	})
	gs, err := s.GPUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vs := ViewGPUs(gs, "alice", false)
	if vs[0].Util == nil || *vs[0].Util != 87 || vs[0].MemTotal != 40<<30 || vs[1].Util != nil {
		t.Fatalf("views: %+v", vs)
	}
}
