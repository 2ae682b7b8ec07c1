package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/doctor"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/metrics"
	"github.com/lxcgate/lxcgate/internal/notify"
	"github.com/lxcgate/lxcgate/internal/nvsmi"
	"github.com/lxcgate/lxcgate/internal/portmap"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/sweep"
	"github.com/lxcgate/lxcgate/internal/tick"
)

// engine is the container side of a serving gateway: the service, the
// port mapper that follows it and the sweeper that stops what ran out.
type engine struct {
	ctx     context.Context // the gateway's: ends when it stops
	log     *slog.Logger
	lx      containers.LXD
	client  *lxd.Client // nil when Deps.LXD stands in
	cs      *containers.Service
	mapper  *portmap.Mapper
	sweeper *sweep.Sweeper
	// notifier delivers notices to members (webhook, email).
	notifier *notify.Notifier
}

// watcher is an LXD that reports its events (the real client does).
type watcher interface {
	Watch(ctx context.Context, fn func(project, name, action string))
}

// pinger is an LXD with a cheap call for /readyz (the real client has one).
type pinger interface {
	Ping(ctx context.Context) error
}

// newEngine connects to LXD and iptables and builds the engine; the
// gateway's metrics hear of it and its automatic stops go to the audit.
func (g *Gateway) newEngine() (*engine, error) {
	cfg, met := g.cfg, g.metrics
	e := &engine{ctx: g.ctx, log: g.log, lx: g.deps.LXD}
	if e.lx == nil {
		lx, err := LXDClient(cfg, g.log)
		if err != nil {
			return nil, err
		}
		lx.ExecTimeout = cfg.Containers.ExecTimeout.D()
		lx.SetMaxConcurrent(cfg.LXD.MaxConcurrent)
		lx.Observe = observeLXD(met.LXDOperation, g.log)
		e.lx, e.client = lx, lx
	}
	// The mapper follows the service's changes, and the service is the
	// mapper's source: the closure reads mapper once serving has begun.
	e.cs = containers.New(g.db, e.lx, ContainerConfig(cfg, func(r ref.Ref) { e.mapper.Follow(r) }), g.log)
	backend := g.deps.Ports
	if backend == nil {
		b, err := Backend(cfg)
		if err != nil {
			return nil, err
		}
		backend = b
	}
	e.mapper = portmap.New(backend, e.cs, g.log)
	e.mapper.OnSync(met.Reconciled)
	e.sweeper = sweep.New(e.cs, orConns(g.deps.Conns), orGPUUse(g.deps.GPUUse), g.audit, g.log, sweepConfig(cfg))
	e.notifier = notify.New(g.db, notifyConfig(cfg, g.log), g.log)
	e.sweeper.SetNotify(e.notifier.Notify)
	e.cs.SetNotify(e.notifier.Notify)
	if g.deps.GPUUse == nil {
		e.cs.SetGPUStats(gpuStats)
		e.cs.SetMIG(migDevices)
	}
	ping := func(context.Context) error { return nil }
	if p, ok := e.lx.(pinger); ok {
		ping = p.Ping
	}
	met.Watch(metrics.Sources{
		Inventory: func() metrics.Inventory {
			inv := e.cs.Inventory()
			return metrics.Inventory{Containers: inv.ByStatus, GPUs: inv.GPUs}
		},
		Rules: e.mapper.Rules, Synced: e.mapper.Synced, LXD: ping,
	})
	return e, nil
}

func orConns(c sweep.Connections) sweep.Connections {
	if c == nil {
		return sweep.Conntrack{}
	}
	return c
}

func orGPUUse(u sweep.GPUUse) sweep.GPUUse {
	if u == nil {
		return sweep.NvidiaSMI{}
	}
	return u
}

// start follows LXD until the gateway's context ends. LXD may be down at
// start: the gateway serves anyway and reconciles as soon as LXD answers;
// then LXD's events and a periodic reconcile keep the port mappings true,
// and the sweeper runs beside it.
func (e *engine) start(cfg engineConfig) {
	ctx := e.ctx
	settled := make(chan struct{})
	if e.client != nil {
		go logDoctor(ctx, e.log, cfg.doctor, settled)
	}
	go func() {
		settle(ctx, e.log, e.cs, e.mapper)
		close(settled)
		go e.mapper.Run(ctx, cfg.every)
		go e.sweeper.Run(ctx, cfg.every)
		go checkGPUs(ctx, e.log, e.cs, cfg.every)
		go e.cs.RunQueue(ctx, queueEvery)
		go e.notifier.Run(ctx, queueEvery)
		if w, ok := e.lx.(watcher); ok {
			w.Watch(ctx, func(project, name, action string) {
				if action == lxd.StreamResumed {
					go e.catchUp() // LXD came back: what happened while it was away is unknown
					return
				}
				go e.cs.Observe(project, name, action) // the event stream must not wait on LXD or iptables
			})
		}
	}()
}

// observeLXD counts each LXD call and logs one that took long for its
// kind, so that a command which hung has its cause in the log.
func observeLXD(count func(string, time.Duration), log *slog.Logger) func(string, time.Duration) {
	return func(op string, d time.Duration) {
		count(op, d)
		limit := 10 * time.Second
		switch op {
		case "create", "exec", "start", "copy", "move", "restore", "volume-export", "volume-import", "delete":
			limit = 2 * time.Minute // image unpacks, copies and commands take their time
		}
		if d > limit {
			log.Warn("LXD answered slowly", "op", op, "took", d.Round(time.Millisecond))
		}
	}
}

// queueEvery is how often the GPU queue is looked at besides the kicks
// of freed GPUs (a stop behind the gateway's back is seen this late).
const queueEvery = 5 * time.Second

// engineConfig is what start reads of the configuration.
type engineConfig struct {
	every  time.Duration // ports.reconcile_interval
	doctor doctor.Env
}

// catchUp reconciles after LXD's event stream came back: an operation
// LXD was killed in the middle of may have finished, half-finished or
// not, and no event said which.
func (e *engine) catchUp() {
	if err := e.cs.Reconcile(e.ctx); err != nil {
		e.log.Warn("LXD is back, but the reconcile failed; the periodic one retries", "err", err)
		return
	}
	if _, err := e.mapper.Sync(e.ctx); err != nil {
		e.log.Warn("LXD is back, but port mapping failed; the periodic one retries", "err", err)
		return
	}
	e.log.Info("LXD is back: containers and port mappings reconciled")
}

// resync reconciles the containers, then the port mappings (after a
// reload added a published service).
func (e *engine) resync() {
	if err := e.cs.Reconcile(e.ctx); err != nil {
		e.log.Warn("reload: reconcile failed; the periodic one retries", "err", err)
		return
	}
	if _, err := e.mapper.Sync(e.ctx); err != nil {
		e.log.Warn("reload: port mapping failed; the periodic one retries", "err", err)
	}
}

// logDoctor logs the preflight checks once the first reconcile made the
// chains, or after a while when LXD keeps the gateway from settling.
func logDoctor(ctx context.Context, log *slog.Logger, env doctor.Env, settled <-chan struct{}) {
	select {
	case <-settled:
	case <-time.After(20 * time.Second):
	case <-ctx.Done():
		return
	}
	doctor.Run(ctx, env).Log(log)
}

// settle brings LXD's shared state in line, reconciles ownership, then
// the port mappings, retrying until LXD and iptables answer.
func settle(ctx context.Context, log *slog.Logger, cs *containers.Service, mapper *portmap.Mapper) {
	for delay := time.Second; ctx.Err() == nil; delay = min(delay*2, 30*time.Second) {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := cs.Prepare(tctx)
		if err == nil {
			err = cs.Reconcile(tctx)
		}
		if err == nil {
			log.Info("containers reconciled with LXD")
			var res portmap.Result
			if res, err = mapper.Sync(tctx); err == nil {
				log.Info("port mappings reconciled", "added", res.Added, "removed", res.Removed)
			}
		}
		cancel()
		if err == nil {
			return
		}
		log.Warn("not settled yet; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// checkGPUs holds the instances' GPU devices to the books at every
// reconcile interval, between the full reconciles.
func checkGPUs(ctx context.Context, log *slog.Logger, cs *containers.Service, every time.Duration) {
	tick.Every(ctx, every, func() {
		if err := cs.CheckGPUs(ctx); err != nil && ctx.Err() == nil {
			log.Warn("GPU device check failed; the next pass retries", "err", err)
		}
	})
}

// The sweep records usage through the container service.
var _ sweep.UsageRecorder = (*containers.Service)(nil)

// gpuStats is what nvidia-smi tells of the host's GPUs, for 'gpus'.
func gpuStats(ctx context.Context) (map[string]containers.GPUStat, error) {
	gs, err := nvsmi.Query(ctx, nil)
	if err != nil || gs == nil {
		return nil, err
	}
	out := map[string]containers.GPUStat{}
	for _, g := range gs {
		out[g.PCI] = containers.GPUStat{Util: g.Util, MemUsed: g.MemUsed, MemTotal: g.MemTotal}
	}
	return out, nil
}

// migDevices are the host's MIG devices by their GPU's PCI address.
func migDevices(ctx context.Context) (map[string][]nvsmi.MIG, error) {
	gs, err := nvsmi.Read(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := map[string][]nvsmi.MIG{}
	for _, g := range gs {
		if len(g.MIG) > 0 {
			out[g.PCI] = g.MIG
		}
	}
	return out, nil
}
