// Package metrics owns lxcgate's Prometheus collectors and the HTTP handler
// of the metrics listener (/metrics, /healthz, /readyz). Other packages
// report through narrow hooks and never import Prometheus. Every label
// value is drawn from a small fixed set: user and container names never
// become label values, whatever a client sends.
package metrics

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the collectors, in a registry of its own.
type Metrics struct {
	reg       *prometheus.Registry
	logins    *prometheus.CounterVec
	commands  *prometheus.CounterVec
	sessions  prometheus.Gauge
	inside    *prometheus.CounterVec // sessions into containers, by kind
	insideIO  *prometheus.CounterVec // their bytes, by direction
	lxdOps    *prometheus.HistogramVec
	reconcile prometheus.Histogram

	mu  sync.Mutex
	src Sources // set by Watch; read at scrape time

	readyMu sync.Mutex // one LXD probe at a time; its answer is reused
	lxdAt   time.Time
	lxdErr  error
}

// New returns the metrics with the Go and process collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxcgate_ssh_logins_total", Help: "SSH authentication attempts by method and result.",
		}, []string{"method", "result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxcgate_commands_total", Help: "Shell commands run, by command and result.",
		}, []string{"command", "result"}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lxcgate_sessions_open", Help: "SSH sessions open now.",
		}),
		inside: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxcgate_container_sessions_total", Help: "Sessions into containers (USER+CONTAINER logins) ended, by kind.",
		}, []string{"kind"}),
		insideIO: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lxcgate_container_session_bytes_total", Help: "Bytes of sessions into containers, by direction (in: from clients).",
		}, []string{"direction"}),
		lxdOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lxcgate_lxd_operation_seconds", Help: "Time LXD calls took, by operation.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"operation"}),
		reconcile: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lxcgate_portmap_reconcile_seconds", Help: "Time a full port mapping reconcile took.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.logins, m.commands, m.sessions, m.inside, m.insideIO, m.lxdOps, m.reconcile,
		&stateCollector{m: m},
	)
	return m
}

// Registry is the registry the handler serves (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Label values. Anything outside these sets is reported as "other", so
// that what a client sends can never grow the label space.
var (
	loginMethods = set("password", "publickey", "keyboard-interactive", "none")
	loginResults = set("ok", "fail", "locked")
	insideKinds  = set("shell", "exec", "sftp", "forward")
	cmdResults   = set("ok", "fail", "usage", "refused", "unknown")
	// Command names are the command table's words; the shell sends
	// "unknown" for anything else, and this guards the shape regardless.
	cmdName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,23}$`)
	opName  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
)

func set(vs ...string) map[string]bool {
	out := map[string]bool{}
	for _, v := range vs {
		out[v] = true
	}
	return out
}

func bounded(v string, allowed map[string]bool) string {
	if allowed[v] {
		return v
	}
	return "other"
}

// Login counts one authentication attempt.
func (m *Metrics) Login(method, result string) {
	m.logins.WithLabelValues(bounded(method, loginMethods), bounded(result, loginResults)).Inc()
}

// SessionOpened and SessionClosed follow the open sessions.
func (m *Metrics) SessionOpened() { m.sessions.Inc() }

// SessionClosed: see SessionOpened.
func (m *Metrics) SessionClosed() { m.sessions.Dec() }

// ContainerSession counts one ended session into a container and its bytes.
func (m *Metrics) ContainerSession(kind string, in, out int64) {
	m.inside.WithLabelValues(bounded(kind, insideKinds)).Inc()
	m.insideIO.WithLabelValues("in").Add(float64(in))
	m.insideIO.WithLabelValues("out").Add(float64(out))
}

// Command counts one shell command by its table name.
func (m *Metrics) Command(name, result string) {
	if !cmdName.MatchString(name) {
		name = "unknown"
	}
	m.commands.WithLabelValues(name, bounded(result, cmdResults)).Inc()
}

// LXDOperation observes one LXD call ("start", "list", ...).
func (m *Metrics) LXDOperation(op string, d time.Duration) {
	if !opName.MatchString(op) {
		op = "other"
	}
	m.lxdOps.WithLabelValues(op).Observe(d.Seconds())
}

// Reconciled observes one full port mapping reconcile.
func (m *Metrics) Reconciled(d time.Duration, _ error) { m.reconcile.Observe(d.Seconds()) }

// Inventory is what the last reconcile saw: gateway containers by LXD
// status, and the GPUs they hold.
type Inventory struct {
	Containers map[string]int // by LXD status, any case
	GPUs       int
}

// Sources are read at scrape time and by /readyz; they must be cheap
// (cached values), except LXD, which /readyz calls at most every few
// seconds with a short timeout.
type Sources struct {
	Inventory func() Inventory
	Rules     func() int                      // per-mapping rules in lxcgate's chains
	Synced    func() error                    // nil when the last full port reconcile succeeded
	LXD       func(ctx context.Context) error // a cheap call that LXD answers
}

// Watch sets the sources; before it, the pulled metrics are absent and
// /readyz answers 503.
func (m *Metrics) Watch(s Sources) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.src = s
}

func (m *Metrics) sources() Sources {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.src
}

// stateCollector reports the pulled gauges from the sources' cached values,
// so a scrape never scans LXD.
type stateCollector struct{ m *Metrics }

var (
	containersDesc = prometheus.NewDesc("lxcgate_containers", "Gateway containers by LXD status, as of the last reconcile.", []string{"state"}, nil)
	rulesDesc      = prometheus.NewDesc("lxcgate_portmap_rules", "Per-mapping rules in lxcgate's iptables chains.", nil, nil)
	gpusDesc       = prometheus.NewDesc("lxcgate_gpus_assigned", "GPUs held by gateway containers, as of the last reconcile.", nil, nil)
	stateName      = regexp.MustCompile(`^[a-z]{1,16}$`)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- containersDesc
	ch <- rulesDesc
	ch <- gpusDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.sources()
	if src.Inventory != nil {
		inv := src.Inventory()
		by := map[string]int{"running": 0, "stopped": 0}
		for st, n := range inv.Containers {
			st = strings.ToLower(st)
			if !stateName.MatchString(st) {
				st = "other"
			}
			by[st] += n
		}
		for st, n := range by {
			ch <- prometheus.MustNewConstMetric(containersDesc, prometheus.GaugeValue, float64(n), st)
		}
		ch <- prometheus.MustNewConstMetric(gpusDesc, prometheus.GaugeValue, float64(inv.GPUs))
	}
	if src.Rules != nil {
		ch <- prometheus.MustNewConstMetric(rulesDesc, prometheus.GaugeValue, float64(src.Rules()))
	}
}
