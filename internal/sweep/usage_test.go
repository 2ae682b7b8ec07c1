package sweep

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// usageSource is a source that takes usage, as containers.Service does.
type usageSource struct {
	fakeSource
	mu   sync.Mutex
	used map[string]containers.Used
}

func (u *usageSource) RecordUsage(_ context.Context, _ time.Time, used map[string]containers.Used) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.used == nil {
		u.used = map[string]containers.Used{}
	}
	for owner, x := range used {
		y := u.used[owner]
		y.Running += x.Running
		y.CPU += x.CPU
		y.GPUBusy += x.GPUBusy
		u.used[owner] = y
	}
}

// Each pass adds the time a container ran, its CPU time since the last
// pass (a restart's counter starting again), and the time its GPUs were
// busy; a stopped container and the first sight of one add nothing, nor
// does a stall longer than maxUsageSpan.
func TestUsageAccounting(t *testing.T) {
	ctx := context.Background()
	src := &usageSource{}
	s, c, _ := newSweeper(src, fakeConns{}, fakeGPUs{"0000:01:00.0": 80}, Config{GPUPercent: 5})
	gpu := containers.SweepItem{Ref: ref.Ref{Owner: "bob", Name: "g"}, Running: true, GPUs: []string{"0000:01:00.0"}, CPUTime: 10 * time.Second}
	cpu := containers.SweepItem{Ref: ref.Ref{Owner: "alice", Name: "c"}, Running: true, CPUTime: time.Minute}
	off := containers.SweepItem{Ref: ref.Ref{Owner: "alice", Name: "off"}}
	src.items = []containers.SweepItem{gpu, cpu, off}
	s.Pass(ctx) // first sight: nothing yet
	c.mono = c.mono.Add(30 * time.Second)
	src.items[0].CPUTime += 15 * time.Second
	src.items[1].CPUTime = 5 * time.Second // restarted
	s.Pass(ctx)
	if u := src.used["bob"]; u.Running != 30*time.Second || u.CPU != 15*time.Second || u.GPUBusy != 30*time.Second {
		t.Fatalf("bob: %+v", u)
	}
	if u := src.used["alice"]; u.Running != 30*time.Second || u.CPU != 5*time.Second || u.GPUBusy != 0 {
		t.Fatalf("alice: %+v", u)
	}
	c.mono = c.mono.Add(time.Hour) // the gateway stalled
	s.Pass(ctx)
	if u := src.used["bob"]; u.Running != 30*time.Second {
		t.Fatalf("a stall was counted: %+v", u)
	}
}
