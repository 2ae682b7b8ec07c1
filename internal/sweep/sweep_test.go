package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/ref"
)

type fakeSource struct {
	mu      sync.Mutex
	items   []containers.SweepItem
	stopped []string
}

func (f *fakeSource) SweepItems(context.Context) ([]containers.SweepItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]containers.SweepItem(nil), f.items...), nil
}

func (f *fakeSource) AutoStop(_ context.Context, r ref.Ref, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, r.Name+":"+reason)
	for i := range f.items {
		if f.items[i].Ref == r {
			f.items[i].Running = false
			f.items[i].StopReason = reason
		}
	}
	return nil
}

type fakeConns map[string][]Flow

func (f fakeConns) Connections(context.Context) (map[string][]Flow, error) { return f, nil }

type fakeGPUs map[string]float64

func (f fakeGPUs) Utilization(context.Context) (map[string]float64, error) { return f, nil }

type recorder struct{ rows []audit.Event }

func (r *recorder) Record(_ context.Context, e audit.Event) { r.rows = append(r.rows, e) }

// clock is a monotonic clock the test moves; wall, the wall clock's
// offset from it, may jump.
type clock struct {
	start time.Time
	mono  time.Time
	wall  time.Duration
}

func (c *clock) now() time.Time { return c.mono.Add(c.wall) }

func newSweeper(src Source, conns Connections, gpus GPUUse, cfg Config) (*Sweeper, *clock, *recorder) {
	rec := &recorder{}
	s := New(src, conns, gpus, rec, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg)
	c := &clock{mono: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	c.start = c.mono
	s.mono = func() time.Duration { return c.mono.Sub(c.start) }
	s.wall = c.now
	return s, c, rec
}

func item(name string, running bool) containers.SweepItem {
	return containers.SweepItem{Ref: ref.Ref{Owner: "alice", Name: name}, Running: running, IPv4: "10.166.0." + fmt.Sprint(len(name)+10)}
}

func TestLeaseExpires(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	s, c, rec := newSweeper(src, fakeConns{}, nil, Config{})
	box := item("box", true)
	box.LeaseUntil = c.now().Add(10 * time.Second)
	stopped := item("old", false)
	stopped.LeaseUntil = c.now().Add(-time.Hour) // ran out while the gateway was down
	src.items = []containers.SweepItem{box, stopped}
	if res, _ := s.Pass(ctx); res.Expired != 1 || src.stopped[0] != "old:expired" {
		t.Fatalf("a deadline passed while down acts at the first pass: %+v %v", res, src.stopped)
	}
	c.mono = c.mono.Add(9 * time.Second)
	if res, _ := s.Pass(ctx); res.Expired != 0 {
		t.Fatal("stopped early")
	}
	c.mono = c.mono.Add(time.Second)
	if res, _ := s.Pass(ctx); res.Expired != 1 || src.stopped[1] != "box:expired" {
		t.Fatalf("not stopped at its deadline: %+v %v", res, src.stopped)
	}
	if len(rec.rows) != 2 || rec.rows[1].Kind != audit.KindAuto || !strings.Contains(rec.rows[1].Detail, "lease ran out") {
		t.Fatalf("audit: %+v", rec.rows)
	}
	if res, _ := s.Pass(ctx); res.Expired != 0 {
		t.Fatal("an expired container is stopped again and again")
	}
}

// A wall clock set forward by a day stops nothing early; the deadline
// still comes after the lease's time has really passed.
func TestClockJumpStopsNothingEarly(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	s, c, _ := newSweeper(src, fakeConns{}, nil, Config{})
	box := item("box", true)
	box.LeaseUntil = c.now().Add(time.Hour)
	src.items = []containers.SweepItem{box}
	s.Pass(ctx)
	c.wall = 24 * time.Hour
	c.mono = c.mono.Add(time.Minute)
	if res, _ := s.Pass(ctx); res.Expired != 0 {
		t.Fatal("a clock jump stopped a container early")
	}
	c.mono = c.mono.Add(time.Hour)
	if res, _ := s.Pass(ctx); res.Expired != 1 {
		t.Fatal("not stopped once its hour had passed")
	}
}

func TestIdleStop(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	conns := fakeConns{}
	cfg := Config{IdleAfter: time.Minute, CPUPercent: 2}
	s, c, _ := newSweeper(src, conns, nil, cfg)
	busy, idle, web := item("busy", true), item("idle", true), item("webby", true)
	src.items = []containers.SweepItem{busy, idle, web}
	conns[web.IPv4] = []Flow{{ID: 1, Open: true}}
	conns[idle.IPv4] = []Flow{{ID: 2}} // a closed one, from before: no use after the first pass
	for i := 0; i < 7; i++ {
		s.Pass(ctx)
		c.mono = c.mono.Add(10 * time.Second)
		src.items[0].CPUTime += 5 * time.Second // half a CPU
		src.items[1].CPUTime += 100 * time.Millisecond
	}
	if len(src.stopped) != 1 || src.stopped[0] != "idle:idle" {
		t.Fatalf("stopped %v, want only idle", src.stopped)
	}
	// Only-GPU leaves containers without GPUs alone.
	src.items[1].Running, src.stopped = true, nil
	s.SetConfig(Config{IdleAfter: time.Minute, CPUPercent: 2, OnlyGPU: true})
	for i := 0; i < 8; i++ {
		s.Pass(ctx)
		c.mono = c.mono.Add(10 * time.Second)
	}
	if len(src.stopped) != 0 {
		t.Fatalf("only_gpu stopped %v", src.stopped)
	}
}

func TestGPUUseKeepsAlive(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	util := fakeGPUs{"0000:01:00.0": 80, "0000:02:00.0": 0}
	s, c, _ := newSweeper(src, fakeConns{}, util, Config{IdleAfter: time.Minute, CPUPercent: 2, OnlyGPU: true})
	a, b := item("a", true), item("bb", true)
	a.GPUs, b.GPUs = []string{"0000:01:00.0"}, []string{"0000:02:00.0"}
	src.items = []containers.SweepItem{a, b}
	for i := 0; i < 8; i++ {
		s.Pass(ctx)
		c.mono = c.mono.Add(10 * time.Second)
	}
	if len(src.stopped) != 1 || src.stopped[0] != "bb:idle" {
		t.Fatalf("stopped %v, want only bb", src.stopped)
	}
}

type failingConns struct{}

func (failingConns) Connections(context.Context) (map[string][]Flow, error) {
	return nil, errors.New("netlink: permission denied")
}

// Without knowing the connections, nothing is called idle.
func TestUnknownConnectionsStopNothing(t *testing.T) {
	src := &fakeSource{items: []containers.SweepItem{item("idle", true)}}
	s, c, _ := newSweeper(src, failingConns{}, nil, Config{IdleAfter: time.Second, CPUPercent: 2})
	for i := 0; i < 5; i++ {
		s.Pass(context.Background())
		c.mono = c.mono.Add(time.Second)
	}
	if len(src.stopped) != 0 {
		t.Fatalf("stopped %v", src.stopped)
	}
}

// The utilisation of each local GPU, by PCI address as LXD writes it; a
// GPU split into MIG devices reports none, and counts as busy.
func TestNvidiaSMIUtilization(t *testing.T) {
	out := "0, NVIDIA A100, GPU-1, 00000000:01:00.0, 87, 100, 40960\n1, NVIDIA H200, GPU-2, 00000000:81:00.0, [N/A], 45, 143771\n"
	n := NvidiaSMI{Run: func(context.Context, string, ...string) ([]byte, error) { return []byte(out), nil }}
	if u, err := n.Utilization(context.Background()); err != nil || u["0000:01:00.0"] != 87 || u["0000:81:00.0"] != 100 {
		t.Fatalf("%v %v", u, err)
	}
	bad := NvidiaSMI{Run: func(context.Context, string, ...string) ([]byte, error) { return []byte("garbage"), nil }}
	if _, err := bad.Utilization(context.Background()); err == nil {
		t.Fatal("garbage parsed")
	}
}

// BenchmarkPass is one lease and idle pass over 1000 containers, a third
// of them leased and a tenth holding GPUs, with the fake's own cost
// (copying the list) included.
func BenchmarkPass(b *testing.B) {
	src := &fakeSource{}
	conns := fakeConns{}
	util := fakeGPUs{}
	for i := 0; i < 1000; i++ {
		it := containers.SweepItem{Ref: ref.Ref{Owner: fmt.Sprintf("u%03d", i%100), Name: fmt.Sprintf("c%04d", i)}, Running: true,
			IPv4: fmt.Sprintf("10.166.%d.%d", i/250, i%250+2), CPUTime: time.Duration(i) * time.Second}
		if i%3 == 0 {
			it.LeaseUntil = time.Now().Add(time.Duration(i+1) * time.Hour)
		}
		if i%10 == 0 {
			pci := fmt.Sprintf("0000:%02x:00.0", i/10)
			it.GPUs = []string{pci}
			util[pci] = float64(i % 50)
		}
		if i%4 == 0 {
			conns[it.IPv4] = []Flow{{ID: uint32(i), Open: i%8 == 0}, {ID: uint32(i + 100000)}}
		}
		src.items = append(src.items, it)
	}
	s, c, _ := newSweeper(src, conns, util, Config{IdleAfter: 4 * time.Hour, CPUPercent: 2})
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.mono = c.mono.Add(30 * time.Second)
		if _, err := s.Pass(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// A connection made and closed between two passes is use; once seen, a
// closed one is not.
func TestShortConnectionsCount(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	conns := fakeConns{}
	s, c, _ := newSweeper(src, conns, nil, Config{IdleAfter: 30 * time.Second, CPUPercent: 2})
	web := item("web", true)
	src.items = []containers.SweepItem{web}
	for i := 0; i < 10; i++ {
		conns[web.IPv4] = []Flow{{ID: uint32(100 + i)}} // a new short request every pass
		s.Pass(ctx)
		c.mono = c.mono.Add(10 * time.Second)
	}
	if len(src.stopped) != 0 {
		t.Fatalf("a container with a request every pass was stopped: %v", src.stopped)
	}
	for i := 0; i < 5; i++ { // the last request lingers, closed
		s.Pass(ctx)
		c.mono = c.mono.Add(10 * time.Second)
	}
	if len(src.stopped) != 1 {
		t.Fatalf("a lingering closed connection kept it alive: %v", src.stopped)
	}
}

type flakySource struct {
	fakeSource
	fail int // AutoStop records the reason but the stop fails this many times
}

func (f *flakySource) AutoStop(ctx context.Context, r ref.Ref, reason string) error {
	if f.fail > 0 {
		f.fail--
		f.mu.Lock()
		for i := range f.items {
			if f.items[i].Ref == r {
				f.items[i].StopReason = reason // marked, still running
			}
		}
		f.mu.Unlock()
		return errors.New("lxd: stop refused")
	}
	return f.fakeSource.AutoStop(ctx, r, reason)
}

// A stop that failed after the record was written is tried again.
func TestFailedStopIsRetried(t *testing.T) {
	ctx := context.Background()
	src := &flakySource{fail: 1}
	s, c, _ := newSweeper(src, fakeConns{}, nil, Config{})
	box := item("box", true)
	box.LeaseUntil = c.now().Add(time.Second)
	src.items = []containers.SweepItem{box}
	c.mono = c.mono.Add(2 * time.Second)
	if res, _ := s.Pass(ctx); res.Expired != 0 {
		t.Fatal("a failed stop counted")
	}
	if res, _ := s.Pass(ctx); res.Expired != 1 || len(src.stopped) != 1 {
		t.Fatalf("the running, marked container was not stopped again: %+v %v", res, src.stopped)
	}
}

// Regression: in a cluster, a member's GPU was judged by the gateway
// host's own nvidia-smi at the same bus address. The host's busy GPU kept
// an idle member container alive, and the host's idle GPU said nothing
// true either. A member's GPU activity is unknown, never idle: the idle
// rule weighs CPU and connections alone, and the stop says so.
func TestMemberGPUActivityUnknown(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	// The gateway's own GPU at the bus address the member's GPU has.
	util := fakeGPUs{"0000:01:00.0": 95}
	s, c, rec := newSweeper(src, fakeConns{}, util, Config{IdleAfter: time.Minute, CPUPercent: 2, OnlyGPU: true})
	idle, working, local := item("idle", true), item("working", true), item("local", true)
	idle.GPUs = []string{"member3/0000:01:00.0"}
	working.GPUs = []string{"member3/all"}
	local.GPUs = []string{"0000:01:00.0"} // the gateway host's own: observed, busy
	src.items = []containers.SweepItem{idle, working, local}
	for i := 0; i < 8; i++ {
		s.Pass(ctx)
		c.mono = c.mono.Add(10 * time.Second)
		src.items[1].CPUTime += 5 * time.Second // its CPU works
	}
	if len(src.stopped) != 1 || src.stopped[0] != "idle:idle" {
		t.Fatalf("stopped %v, want only idle (CPU and connections decide for a member's GPUs)", src.stopped)
	}
	if len(rec.rows) != 1 || !strings.Contains(rec.rows[0].Detail, "GPU activity unknown on member3") {
		t.Fatalf("audit %+v: the stop must say the GPU activity was unknown", rec.rows)
	}
	// Without nvidia-smi on the gateway host the member's GPUs are no
	// less unknown: not a reason to keep the container forever.
	src.items[0].Running, src.items[0].StopReason, src.stopped = true, "", nil
	s2, c2, _ := newSweeper(src, fakeConns{}, nil, Config{IdleAfter: time.Minute, CPUPercent: 2, OnlyGPU: true})
	for i := 0; i < 8; i++ {
		s2.Pass(ctx)
		c2.mono = c2.mono.Add(10 * time.Second)
		src.items[1].CPUTime += 5 * time.Second
	}
	if len(src.stopped) != 1 || src.stopped[0] != "idle:idle" {
		t.Fatalf("without nvidia-smi stopped %v, want only idle (local stays busy: its use is unknown)", src.stopped)
	}
}

// A session open into a container (alice+box@gw) is use, though it makes
// no connection to the container's address and may use no CPU.
func TestOpenSessionKeepsAlive(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	s, c, _ := newSweeper(src, fakeConns{}, nil, Config{IdleAfter: time.Minute, CPUPercent: 2})
	in, out := item("inside", true), item("alone", true)
	in.Sessions = 1
	src.items = []containers.SweepItem{in, out}
	for i := 0; i < 8; i++ {
		s.Pass(ctx)
		c.mono = c.mono.Add(10 * time.Second)
	}
	if len(src.stopped) != 1 || src.stopped[0] != "alone:idle" {
		t.Fatalf("stopped %v, want only alone", src.stopped)
	}
	// The session ends: from then on, the idle time counts.
	src.items[0].Sessions = 0
	for i := 0; i < 8; i++ {
		s.Pass(ctx)
		c.mono = c.mono.Add(10 * time.Second)
	}
	if len(src.stopped) != 2 || src.stopped[1] != "inside:idle" {
		t.Fatalf("stopped %v, want inside after its session", src.stopped)
	}
}
