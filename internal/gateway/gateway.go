// Package gateway builds a serving lxcgate from its configuration: the
// database, the users, the LXD connection, the container service with its
// port mapper and sweeper, the SSH server, the web site, the metrics and
// the audit trail. It runs them, reloads what may change while serving,
// and shuts them down. The host command line (cmd/lxcgate) only parses.
package gateway

import (
	"context"
	"database/sql"
	"github.com/lxcgate/lxcgate/internal/apps"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/metrics"
	"github.com/lxcgate/lxcgate/internal/portmap"
	"github.com/lxcgate/lxcgate/internal/server"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/sweep"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/web"
)

// Deps are what a gateway takes from outside its configuration. The zero
// value is a production gateway: it dials LXD, writes iptables, reads the
// host's connections and GPUs, and logs on os.Stderr.
type Deps struct {
	// LXD stands in for the connection [lxd] describes (a test passes
	// lxdtest's fake). A stand-in hears LXD's events only if it has a
	// Watch method, and no doctor report is logged for it.
	LXD containers.LXD
	// Ports stands in for the iptables chains [ports] describes.
	Ports portmap.Backend
	// Conns and GPUUse stand in for the host's connection tracking and
	// nvidia-smi, which the idle sweeper reads.
	Conns  sweep.Connections
	GPUUse sweep.GPUUse

	// Stderr takes the log (unless Log is set) and the first admin's
	// notice; nil is os.Stderr.
	Stderr io.Writer
	// Log replaces the logger made from [log]; a reload then leaves its
	// level alone.
	Log *slog.Logger

	// Version is the build's, for the log; "" is "dev".
	Version string

	// Signals makes Run answer the process's signals as serve does:
	// SIGTERM and SIGINT drain and stop, SIGHUP reloads what Reread
	// returns.
	Signals bool
	Reread  func() (config.Config, error)
}

// Gateway is a built serve graph.
type Gateway struct {
	cfg   config.Config // as applied: a reload changes only its live keys
	deps  Deps
	log   *slog.Logger
	level *slog.LevelVar // the log level, which a reload may change

	db       *sql.DB
	users    *users.Store
	lobby    string // "" when off
	throttle *throttle.Throttle
	audit    *audit.Log
	metrics  *metrics.Metrics
	eng      *engine
	site     *web.Server  // nil when the web listener is off
	apps     *apps.Server // nil when web apps are off
	shell    *shell.Shell
	srv      *server.Server

	ctx    context.Context // the background work's: ends at close
	cancel context.CancelFunc

	mu      sync.Mutex
	addrs   Addrs            // where Run listens, once it does
	ready   chan struct{}    // closed when Run listens
	running bool             // Run is serving
	stopc   chan stopRequest // Shutdown asks Run to drain
	exited  chan struct{}    // closed when Run returns
	closers []func()         // run at close, last first
	closed  sync.Once
}

// New builds the gateway cfg describes: it validates cfg, tightens the
// data directory, opens and migrates the database, makes the first admin
// when there is none, and connects the parts. Nothing is served before
// Run.
func New(cfg config.Config, deps Deps) (*Gateway, error) {
	if deps.Stderr == nil {
		deps.Stderr = os.Stderr
	}
	if deps.Version == "" {
		deps.Version = "dev"
	}
	g := &Gateway{cfg: cfg, deps: deps, level: new(slog.LevelVar), stopc: make(chan stopRequest), exited: make(chan struct{}),
		ready: make(chan struct{})}
	g.log = deps.Log
	if g.log == nil {
		g.log = newLeveledLogger(cfg.Log, deps.Stderr, g.level)
	}
	tightenData(cfg.Data, g.log)
	if err := startPprof(g.log); err != nil {
		return nil, err
	}
	db, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	g.db = db
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.onClose(func() { g.cancel(); db.Close() })
	if err := g.build(); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// DB is the gateway's database, for tests that look at what it wrote.
func (g *Gateway) DB() *sql.DB { return g.db }

// Users is the gateway's user store.
func (g *Gateway) Users() *users.Store { return g.users }

// Containers is the gateway's container service.
func (g *Gateway) Containers() *containers.Service { return g.eng.cs }

// Addrs are the addresses a running gateway listens on; Web and Metrics
// are nil when off.
type Addrs struct{ SSH, Web, Metrics, Apps net.Addr }

// Ready is closed once Run listens on every address.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Addrs returns where the gateway listens (zero before Ready).
func (g *Gateway) Addrs() Addrs {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addrs
}

// onClose adds f to what close runs, before the ones added earlier.
func (g *Gateway) onClose(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closers = append(g.closers, f)
}

// close stops the listeners and the background work and closes the
// database, once.
func (g *Gateway) close() {
	g.closed.Do(func() {
		g.mu.Lock()
		fs := g.closers
		g.mu.Unlock()
		for i := len(fs) - 1; i >= 0; i-- {
			fs[i]()
		}
	})
}
