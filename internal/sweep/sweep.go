// Package sweep gives GPUs and CPUs back to the lab: it stops containers
// whose lease ran out, and, when configured, containers that sat idle
// (little CPU, no GPU use, no connection through the gateway) for too
// long. A cluster member's GPU use is unknown to the gateway (nvidia-smi
// sees its own host only): for containers holding such GPUs, CPU and
// connections decide alone. It runs beside the port mapper's reconcile, keeps its timers on
// the monotonic clock, and records every stop.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/tick"
)

// Config is what a sweep acts on; it may change while running.
type Config struct {
	IdleAfter  time.Duration // 0: no idle stop
	CPUPercent float64       // below this share of one CPU counts as idle
	OnlyGPU    bool          // idle stop only for containers holding GPUs
	GPUPercent float64       // at or over this utilisation a GPU counts as busy, for usage
	// Notices: this long before a lease runs out (each), and before an
	// idle stop.
	LeaseWarnings []time.Duration
	IdleWarning   time.Duration
}

// Notify tells a member something (notify.Notifier's); once per dedupe key.
type Notify func(ctx context.Context, user, kind, dedupe, text string)

// SetNotify makes the sweeper tell members of stops and what comes.
func (s *Sweeper) SetNotify(n Notify) { s.notify = n }

func (s *Sweeper) tell(ctx context.Context, user, kind, dedupe, text string) {
	if s.notify != nil {
		s.notify(ctx, user, kind, dedupe, text)
	}
}

// UsageRecorder takes what each user's containers used over a pass
// (containers.Service); a Source that is one gets the samples.
type UsageRecorder interface {
	RecordUsage(ctx context.Context, at time.Time, used map[string]containers.Used)
}

// maxUsageSpan caps the time one pass accounts for: after a stall (or
// before the first pass saw a container) nothing is guessed.
const maxUsageSpan = 10 * time.Minute

// Source lists the containers and stops them.
type Source interface {
	SweepItems(ctx context.Context) ([]containers.SweepItem, error)
	AutoStop(ctx context.Context, r ref.Ref, reason string) error
}

// Connections lists the connections tracked to each container address:
// published-port traffic (DNAT) and the gateway's own ssh -J dials both
// end at the container's address.
type Connections interface {
	Connections(ctx context.Context) (map[string][]Flow, error)
}

// Flow is one tracked connection: its id (unique while it lives) and
// whether it is open. A container is in use when it has an open one, or
// one the last pass did not see (traffic since then, even if closed).
// A closed one seen before is not use: it lingers a couple of minutes
// (TIME_WAIT), and may even belong to the address's previous holder.
type Flow struct {
	ID   uint32
	Open bool
}

// GPUUse is each local GPU's utilization in percent, by PCI address in
// lower case ("0000:01:00.0"); nil where no tool reports it.
type GPUUse interface {
	Utilization(ctx context.Context) (map[string]float64, error)
}

// Recorder takes the audit rows of automatic stops.
type Recorder interface {
	Record(ctx context.Context, e audit.Event)
}

// Sweeper runs the passes.
type Sweeper struct {
	src   Source
	conns Connections
	gpus  GPUUse // may be nil
	rec   Recorder
	log   *slog.Logger
	cfg   atomic.Pointer[Config]
	// mono is how long the sweeper has been up, on the monotonic clock:
	// every timer runs on it. wall is the wall clock, read only to turn
	// a deadline into time left.
	mono func() time.Duration
	wall func() time.Time

	notify Notify // may be nil

	mu    sync.Mutex // one pass at a time
	track map[ref.Ref]*tracked
	flows map[uint32]bool // the connections the last pass saw
}

// tracked is what the sweeper remembers of a container between passes.
type tracked struct {
	// The lease as seen at base: remaining is measured on the monotonic
	// clock from base, so that a clock set forward stops nothing early.
	lease     time.Time
	base      time.Duration
	remaining time.Duration

	cpu   time.Duration // CPU time at cpuAt
	cpuAt time.Duration
	// What the last pass accounted for: its time and the CPU time then.
	usageAt, usageCPU time.Duration
	active            time.Duration // the last pass that saw it in use (or start)
}

// New returns a Sweeper; gpus may be nil.
func New(src Source, conns Connections, gpus GPUUse, rec Recorder, log *slog.Logger, cfg Config) *Sweeper {
	start := time.Now()
	s := &Sweeper{src: src, conns: conns, gpus: gpus, rec: rec, log: log.With("component", "sweep"),
		mono: func() time.Duration { return time.Since(start) }, wall: time.Now, track: map[ref.Ref]*tracked{}}
	s.cfg.Store(&cfg)
	return s
}

// SetConfig applies a new configuration from the next pass (SIGHUP).
func (s *Sweeper) SetConfig(c Config) { s.cfg.Store(&c) }

// Result counts one pass's stops.
type Result struct{ Expired, Idle int }

// Run passes every interval until ctx ends; the first pass is at once, so
// that a gateway that was down past a deadline acts on it at start.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	c := s.cfg.Load()
	s.log.Info("sweeping", "every", interval, "idle_after", c.IdleAfter, "cpu_percent", c.CPUPercent, "only_gpu", c.OnlyGPU)
	pass := func() {
		if _, err := s.Pass(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sweep failed; the next pass retries", "err", err)
		}
	}
	pass()
	tick.Every(ctx, interval, pass)
}

// Pass looks at every container once and stops those past their lease or
// idle for too long.
func (s *Sweeper) Pass(ctx context.Context) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := *s.cfg.Load()
	items, err := s.src.SweepItems(ctx)
	if err != nil {
		return Result{}, err
	}
	var conns map[string][]Flow
	var util map[string]float64
	if cfg.IdleAfter > 0 {
		conns, util = s.activity(ctx, &cfg, items)
	} else if s.gpus != nil && holdsGPUs(items) {
		util, _ = s.gpus.Utilization(ctx) // for usage only
	}
	now, wall := s.mono(), s.wall()
	used := map[string]containers.Used{}
	seen := make(map[ref.Ref]bool, len(items))
	var res Result
	for _, it := range items {
		seen[it.Ref] = true
		st := s.track[it.Ref]
		if st == nil {
			st = &tracked{active: now, cpuAt: now, cpu: it.CPUTime, usageAt: now, usageCPU: it.CPUTime}
			s.track[it.Ref] = st
		}
		s.account(used, st, it, now, util, cfg.GPUPercent)
		if why, stop := s.leaseOver(st, it, now, wall); stop {
			if s.stop(ctx, it.Ref, containers.ReasonExpired, why) {
				res.Expired++
			}
			continue
		}
		s.warnLease(ctx, cfg, it, wall)
		if why, stop := s.idleFor(cfg, st, it, now, conns, util); stop {
			if s.stop(ctx, it.Ref, containers.ReasonIdle, why) {
				res.Idle++
				st.active = now // the next start begins a new count
			}
		}
	}
	for r := range s.track {
		if !seen[r] {
			delete(s.track, r)
		}
	}
	if conns != nil {
		s.rememberFlows(conns)
	}
	if rec, ok := s.src.(UsageRecorder); ok && len(used) > 0 {
		rec.RecordUsage(ctx, wall, used)
	}
	return res, nil
}

// account adds what a container used since the last pass to its owner's:
// the time it ran, its CPU time, and the time its GPUs were busy (where
// their use is known).
func (s *Sweeper) account(used map[string]containers.Used, st *tracked, it containers.SweepItem, now time.Duration, util map[string]float64, gpuPercent float64) {
	span, cpu := now-st.usageAt, it.CPUTime-st.usageCPU
	st.usageAt, st.usageCPU = now, it.CPUTime
	if !it.Running || span <= 0 || span > maxUsageSpan {
		return
	}
	if cpu < 0 {
		cpu = it.CPUTime // restarted since: its counter began again
	}
	u := used[it.Ref.Owner]
	u.Running += span
	u.CPU += cpu
	if len(it.GPUs) > 0 && util != nil && gpuBusy(it.GPUs, util, gpuPercent) {
		u.GPUBusy += span * time.Duration(gpuCount(it.GPUs, util))
	}
	used[it.Ref.Owner] = u
}

// gpuCount is how many GPUs keys stand for: "all" is every local one.
func gpuCount(keys []string, util map[string]float64) int {
	if slices.Contains(keys, "all") {
		return max(1, len(util))
	}
	return len(keys)
}

// activity reads the containers' connections and, when any holds a GPU, the
// GPUs' use. Without connections nothing can be called idle: it turns the
// pass's idle stops off in cfg.
func (s *Sweeper) activity(ctx context.Context, cfg *Config, items []containers.SweepItem) (map[string][]Flow, map[string]float64) {
	conns, err := s.conns.Connections(ctx)
	if err != nil {
		s.log.Warn("connections unknown; no idle stop this pass", "err", err)
		cfg.IdleAfter = 0
	}
	var util map[string]float64
	if s.gpus != nil && holdsGPUs(items) {
		if util, err = s.gpus.Utilization(ctx); err != nil {
			s.log.Warn("GPU use unknown; GPU containers count as busy this pass", "err", err)
			util = nil
		}
	}
	return conns, util
}

// rememberFlows keeps the IDs of this pass's flows, for the next.
func (s *Sweeper) rememberFlows(conns map[string][]Flow) {
	s.flows = map[uint32]bool{}
	for _, fs := range conns {
		for _, f := range fs {
			s.flows[f.ID] = true
		}
	}
}

// leaseOver says whether a container's lease has run out: by the
// monotonic clock since the sweeper first saw this deadline, which never
// runs early when the wall clock jumps.
func (s *Sweeper) leaseOver(st *tracked, it containers.SweepItem, now time.Duration, wall time.Time) (string, bool) {
	// Expired and stopped: done. Expired and running (an earlier stop
	// failed, or someone started it behind the gateway's back): again.
	if it.LeaseUntil.IsZero() || (it.StopReason == containers.ReasonExpired && !it.Running) {
		st.lease = time.Time{}
		return "", false
	}
	if !st.lease.Equal(it.LeaseUntil) {
		st.lease, st.base = it.LeaseUntil, now
		st.remaining = it.LeaseUntil.Sub(wall) // the wall clock, once
	}
	if now-st.base < st.remaining {
		return "", false
	}
	return fmt.Sprintf("its lease ran out at %s", it.LeaseUntil.UTC().Format(time.RFC3339)), true
}

// idleFor says whether a running container has been idle for cfg's time.
func (s *Sweeper) idleFor(cfg Config, st *tracked, it containers.SweepItem, now time.Duration, conns map[string][]Flow, util map[string]float64) (string, bool) {
	cpu := 100.0 // unknown until two readings: busy
	if span := now - st.cpuAt; span > 0 && st.cpu <= it.CPUTime && it.Running {
		cpu = 100 * float64(it.CPUTime-st.cpu) / float64(span)
	}
	if st.cpuAt != now {
		st.cpu, st.cpuAt = it.CPUTime, now
	}
	switch {
	case !it.Running || cfg.IdleAfter <= 0 || (cfg.OnlyGPU && len(it.GPUs) == 0):
		st.active = now
		return "", false
	case it.Sessions > 0, cpu >= cfg.CPUPercent, s.traffic(conns[it.IPv4]), gpuBusy(it.GPUs, util, cfg.CPUPercent):
		s.log.Debug("in use", "owner", it.Ref.Owner, "name", it.Ref.Name, "cpu_percent", cpu, "connections", len(conns[it.IPv4]), "sessions", it.Sessions)
		st.active = now
		return "", false
	}
	idle := now - st.active
	if idle < cfg.IdleAfter {
		if cfg.IdleWarning > 0 && cfg.IdleAfter-idle <= cfg.IdleWarning {
			// Once per idle spell: the key is when it began (to the minute).
			began := s.wall().Add(-idle).Truncate(time.Minute).Unix()
			s.tell(context.Background(), it.Ref.Owner, "idle", fmt.Sprintf("idle:%s:%d", it.Ref, began),
				fmt.Sprintf("lxcgate: %s has been idle for %s and stops in %s unless used", it.Ref.Name,
					idle.Round(time.Minute), (cfg.IdleAfter-idle).Round(time.Minute)))
		}
		return "", false
	}
	why := fmt.Sprintf("idle for %s (CPU under %g%%, no connection or session through the gateway", idle.Round(time.Second), cfg.CPUPercent)
	if ms := containers.GPUMembers(it.GPUs); len(ms) > 0 {
		why += "; GPU activity unknown on " + strings.Join(ms, ",")
	}
	return why + ")", true
}

// traffic reports an open connection, or one the last pass did not see.
func (s *Sweeper) traffic(fs []Flow) bool {
	for _, f := range fs {
		if f.Open || !s.flows[f.ID] {
			return true
		}
	}
	return false
}

// gpuBusy reports a GPU of the gateway host's own in use; with no
// utilization known, a container holding such GPUs counts as busy. A
// cluster member's GPU (MEMBER/PCI) is not the host's: the host's
// nvidia-smi at the same bus address says nothing about it, so it counts
// neither busy nor idle, and CPU and connections decide alone.
func gpuBusy(gpus []string, util map[string]float64, threshold float64) bool {
	for _, key := range gpus {
		if strings.Contains(key, "/") || strings.HasPrefix(key, "MIG-") {
			continue // a member's, or a MIG device (nvidia-smi reports no use of its own): unknown
		}
		if util == nil {
			return true
		}
		for pci, u := range util {
			if (key == "all" || strings.EqualFold(key, pci)) && u >= threshold {
				return true
			}
		}
	}
	return false
}

// holdsGPUs reports a container holding GPUs of the gateway host's own,
// the only ones nvidia-smi can tell about.
func holdsGPUs(items []containers.SweepItem) bool {
	for _, it := range items {
		for _, key := range it.GPUs {
			if !strings.Contains(key, "/") {
				return true
			}
		}
	}
	return false
}

// stop stops one container, with a log line and an audit row either way.
func (s *Sweeper) stop(ctx context.Context, r ref.Ref, reason, why string) bool {
	err := s.src.AutoStop(ctx, r, reason)
	if errors.Is(err, containers.ErrRenewed) {
		// Renewed since this pass read it: the renew wins, nothing changed.
		s.log.Info("not stopped: renewed during the pass", "owner", r.Owner, "name", r.Name)
		return false
	}
	detail := fmt.Sprintf("stop %s: %s (%s)", r.Name, reason, why)
	if err != nil {
		s.log.Error("automatic stop failed; the next pass retries", "owner", r.Owner, "name", r.Name, "reason", reason, "err", err)
		detail += " => " + err.Error()
	} else {
		s.log.Info("stopped", "owner", r.Owner, "name", r.Name, "reason", reason, "why", why)
		what := "its lease ran out ('renew " + r.Name + "', then 'start " + r.Name + "')"
		if reason == containers.ReasonIdle {
			what = "it was " + why + " ('start " + r.Name + "' runs it again)"
		}
		s.tell(ctx, r.Owner, "stopped", "", fmt.Sprintf("lxcgate: %s was stopped by the gateway: %s", r.Name, what))
	}
	s.rec.Record(ctx, audit.Event{Kind: audit.KindAuto, User: r.Owner, Method: "gateway", Detail: detail, OK: err == nil})
	return err == nil
}

// warnLease tells a member, once per threshold and lease, that a running
// container's lease runs out soon.
func (s *Sweeper) warnLease(ctx context.Context, cfg Config, it containers.SweepItem, wall time.Time) {
	if !it.Running || it.LeaseUntil.IsZero() {
		return
	}
	left := it.LeaseUntil.Sub(wall)
	ws := slices.Clone(cfg.LeaseWarnings)
	slices.Sort(ws) // the nearest threshold first: 1h before 24h
	for _, w := range ws {
		if left > 0 && left <= w {
			s.tell(ctx, it.Ref.Owner, "lease", fmt.Sprintf("lease:%s:%d:%s", it.Ref, it.LeaseUntil.Unix(), w),
				fmt.Sprintf("lxcgate: the lease of %s runs out at %s, in %s ('renew %s' extends it)", it.Ref.Name,
					it.LeaseUntil.UTC().Format("2006-01-02 15:04 UTC"), left.Round(time.Minute), it.Ref.Name))
			return // the nearest threshold only
		}
	}
}
