package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/doctor"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/metrics"
	"github.com/lxcgate/lxcgate/internal/portmap"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/sdnotify"
	"github.com/lxcgate/lxcgate/internal/server"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/sweep"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/web"
	"github.com/lxcgate/lxcgate/internal/webauth"
	"github.com/spf13/cobra"
)

func (a *app) serveCmd() *cobra.Command {
	var v cli.Values
	c := &cobra.Command{
		Use: "serve", Short: "run the gateway (default listen :2222)", Args: noArgs("lxcgate serve [--listen ADDR]"),
		Long: "Serves SSH until SIGTERM or SIGINT, then drains running commands (ssh.drain_timeout).\n" +
			"SIGHUP re-reads the configuration: the log level, limits, container defaults and caps, the images\n" +
			"allowlist, default quotas and published services apply at once; other changes are logged as needing a restart.\n" +
			"With no admin in the database, it first creates one and prints its password once (on a terminal;\n" +
			"otherwise it is written to DATA/initial-admin-password, mode 0600).",
		RunE: func(*cobra.Command, []string) error {
			if l := v.String("listen"); l != "" {
				a.cfg.SSH.Listen = l
			}
			return a.serve()
		},
	}
	v = cli.DefineFlags(c.Flags(), []cli.Flag{{Name: "listen", Kind: cli.String, Arg: "ADDR", Help: "the address to listen on (ssh.listen)"}})
	return c
}

func (a *app) serve() error {
	log := newLeveledLogger(a.cfg.Log, a.stderr, &a.level)
	tightenData(a.cfg.Data, log)
	if err := startPprof(log); err != nil {
		return err
	}
	db, err := a.open()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	st := users.New(db)
	lobby, err := a.prepareUsers(ctx, st)
	if err != nil {
		return err
	}
	hostKey, err := server.LoadHostKey(filepath.Join(a.cfg.Data, "ssh_host_ed25519_key"))
	if err != nil {
		return err
	}
	th := throttle.New(a.throttleLimits())
	authn := auth.New(st, th)
	users.SetMaxConcurrentHashes(a.cfg.Auth.MaxConcurrentHashes)
	st.SetLogger(log)
	al := audit.New(db, log)
	go al.Retain(ctx, a.cfg.Audit.Retention.D(), 24*time.Hour) // [audit] retention, at start and daily
	go al.Cap(ctx, int64(a.cfg.Audit.MaxRows), 10*time.Minute) // [audit] max_rows: a flood must not outrun the age bound
	met := metrics.New()
	eng, err := a.startContainers(ctx, db, log, met, al)
	if err != nil {
		return err
	}
	cs := eng.cs
	_, listenPort, _ := net.SplitHostPort(a.cfg.SSH.Listen)
	wa, site := a.webSite(db, cs, st, al, th, log)
	// The shell's rows are group-committed with others; the server syncs
	// the trail before each session's exit status.
	sh := shell.New(shell.Options{Auth: authn, Audit: al.Soon(), Log: log, Host: a.cfg.Hostname,
		Services: cs, Keys: st, Admin: st, AuditLog: al, Public: a.publicAddress(), Gateway: net.JoinHostPort(a.publicAddress(), listenPort),
		Metrics: met, Web: wa})
	srv := server.New(server.Options{
		HostKey: hostKey, Auth: authn, Shell: sh, Audit: al, Log: log,
		Lobby:              lobby,
		HandshakeTimeout:   a.cfg.SSH.HandshakeTimeout.D(),
		IdleTimeout:        a.cfg.SSH.IdleTimeout.D(),
		MaxSessions:        a.cfg.SSH.MaxSessions,
		MaxSessionsPerUser: a.cfg.SSH.MaxSessionsPerUser,
		MaxConnections:     a.cfg.SSH.MaxConnections,
		Jump:               cs,

		MaxUnauthPerAddress:      a.cfg.SSH.MaxUnauthPerAddress,
		MaxConnectionsPerAddress: a.cfg.SSH.MaxConnectionsPerAddress,
		MaxChannelsPerConnection: a.cfg.SSH.MaxChannelsPerConnection,
		DB:                       db,
		Metrics:                  met,
	})
	if site != nil {
		go site.Prune(ctx, time.Hour)
	}
	return a.listen(srv, log, lobby, met, site, &liveParts{srv: srv, throttle: th, eng: eng, site: site})
}

func (a *app) throttleLimits() throttle.Limits {
	return throttle.Limits{
		PerAccount: a.cfg.Auth.MaxFailures, PerAddress: a.cfg.Auth.MaxFailuresPerAddress,
		Window: a.cfg.Auth.FailureWindow.D(), Lockout: a.cfg.Auth.Lockout.D(),
	}
}

// prepareUsers makes the first admin when there is none and returns the
// lobby's name ("" when off).
func (a *app) prepareUsers(ctx context.Context, st *users.Store) (string, error) {
	if err := a.bootstrapAdmin(ctx, st); err != nil {
		return "", err
	}
	if !a.cfg.Lobby.Enabled {
		return "", nil
	}
	lobby := a.cfg.Lobby.Name
	if _, err := st.Get(ctx, lobby); err == nil {
		return "", fmt.Errorf("lobby.name %q is also a user's name; rename the lobby or the user", lobby)
	}
	return lobby, nil
}

// engine is the container side of a serving gateway: the service, the
// port mapper that follows it and the sweeper that stops what ran out.
type engine struct {
	ctx     context.Context // the gateway's: ends when it stops
	log     *slog.Logger
	cs      *containers.Service
	mapper  *portmap.Mapper
	sweeper *sweep.Sweeper
}

// startContainers starts the engine, which follows LXD until ctx ends
// (met hears of it); rec takes the audit rows of automatic stops.
func (a *app) startContainers(ctx context.Context, db *sql.DB, log *slog.Logger, met *metrics.Metrics, rec sweep.Recorder) (*engine, error) {
	lx, err := a.lxdClient(log)
	if err != nil {
		return nil, err
	}
	lx.ExecTimeout = a.cfg.Containers.ExecTimeout.D()
	lx.Observe = met.LXDOperation
	// The mapper follows the service's changes, and the service is the
	// mapper's source: the closure reads mapper once serving has begun.
	e := &engine{ctx: ctx, log: log}
	e.cs = containers.New(db, lx, a.containerConfig(func(r ref.Ref) { e.mapper.Follow(r) }), log)
	first, last, _ := a.cfg.Ports.PortRange()
	backend, err := portmap.NewIPTables(a.cfg.Ports.ChainPrefix, a.cfg.Ports.Addresses, first, last)
	if err != nil {
		return nil, err
	}
	e.mapper = portmap.New(backend, e.cs, log)
	e.mapper.OnSync(met.Reconciled)
	e.sweeper = sweep.New(e.cs, sweep.Conntrack{}, sweep.NvidiaSMI{}, rec, log, a.sweepConfig())
	met.Watch(metrics.Sources{
		Inventory: func() metrics.Inventory {
			inv := e.cs.Inventory()
			return metrics.Inventory{Containers: inv.ByStatus, GPUs: inv.GPUs}
		},
		Rules: e.mapper.Rules, Synced: e.mapper.Synced, LXD: lx.Ping,
	})
	// LXD may be down at start: the gateway serves anyway and reconciles
	// as soon as LXD answers; then LXD's events and a periodic reconcile
	// keep the port mappings true, and the sweeper runs beside it.
	settled := make(chan struct{})
	go a.logDoctor(ctx, log, lx, settled)
	go func() {
		settle(ctx, log, e.cs, e.mapper)
		close(settled)
		go e.mapper.Run(ctx, a.cfg.Ports.ReconcileInterval.D())
		go e.sweeper.Run(ctx, a.cfg.Ports.ReconcileInterval.D())
		go checkGPUs(ctx, log, e.cs, a.cfg.Ports.ReconcileInterval.D())
		lx.Watch(ctx, func(project, name, action string) {
			go e.cs.Observe(project, name, action) // the event stream must not wait on LXD or iptables
		})
	}()
	return e, nil
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
func (a *app) logDoctor(ctx context.Context, log *slog.Logger, lx *lxd.Client, settled <-chan struct{}) {
	select {
	case <-settled:
	case <-time.After(20 * time.Second):
	case <-ctx.Done():
		return
	}
	logReport(log, doctor.Run(ctx, a.doctorEnv(lx)))
}

// listen serves until SIGTERM or SIGINT, then drains.
func (a *app) listen(srv *server.Server, log *slog.Logger, lobby string, met *metrics.Metrics, site *web.Server, live *liveParts) error {
	ln, err := net.Listen("tcp", a.cfg.SSH.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another gateway running? set --listen)", a.cfg.SSH.Listen, err)
	}
	stopMetrics, err := a.serveMetrics(met, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics() // after the drain: probes see the gateway until it is gone
	stopWeb, err := a.serveWeb(site, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopWeb()
	log.Info("lxcgate listening", "addr", ln.Addr().String(), "version", buildVersion(), "data", a.cfg.Data, "lobby", lobby)

	sigs, hups := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	signal.Notify(hups, syscall.SIGHUP) // systemctl reload: never stops the gateway
	defer signal.Stop(sigs)
	defer signal.Stop(hups)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sdnotify.Notify(sdnotify.Ready) // systemd Type=notify: the listener is up and served
	wdCtx, wdStop := context.WithCancel(context.Background())
	defer wdStop()
	go sdnotify.RunWatchdog(wdCtx)
	for {
		select {
		case <-hups:
			a.reload(log, live)
			continue
		case err := <-done:
			return err
		case sig := <-sigs:
			return a.drain(srv, log, sig, done)
		}
	}
}

// serveMetrics starts the monitoring listener when [metrics] listen is
// set; stop shuts it down.
func (a *app) serveMetrics(met *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	if a.cfg.Metrics.Listen == "" {
		return func() {}, nil
	}
	log = log.With("component", "metrics")
	hs, addr, err := met.Listen(a.cfg.Metrics.Listen, log)
	if err != nil {
		return nil, err
	}
	log.Info("metrics listening", "addr", addr.String())
	return shutdown(hs, log, "metrics"), nil
}

// shutdown returns what stops an HTTP listener, giving its requests 5 s.
func shutdown(hs *http.Server, log *slog.Logger, what string) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			log.Warn(what+" listener shutdown", "err", err)
		}
	}
}

// webSite builds the web page and API when [web] listen is set; both are
// nil when it is off (and the shell then has no web or token command).
func (a *app) webSite(db *sql.DB, cs *containers.Service, st *users.Store, al *audit.Log, th *throttle.Throttle, log *slog.Logger) (shell.Web, *web.Server) {
	if a.cfg.Web.Listen == "" {
		return nil, nil
	}
	wa := webauth.New(db, a.webBaseURL())
	pub, _ := url.Parse(a.cfg.Web.PublicURL)
	proxies, _ := config.ParsePrefixes(a.cfg.Web.TrustedProxies) // validated
	site := web.New(web.Options{Service: cs, Users: st, Auth: wa, Audit: al, Log: log, Host: a.cfg.Hostname,
		Public: a.publicAddress(), Secure: a.cfg.Web.TLSCert != "" || (pub != nil && pub.Scheme == "https"),
		PublicURL: a.cfg.Web.PublicURL, TrustedProxies: proxies, Throttle: th})
	return wa, site
}

// webBaseURL is where users reach the web listener: web.public_url, or
// one made from the listen address (the hostname for a wildcard one).
func (a *app) webBaseURL() string {
	if a.cfg.Web.PublicURL != "" {
		return a.cfg.Web.PublicURL
	}
	host, port, _ := net.SplitHostPort(a.cfg.Web.Listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = a.cfg.Hostname
	}
	scheme := "http"
	if a.cfg.Web.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// serveWeb starts the web listener when [web] listen is set; stop shuts
// it down.
func (a *app) serveWeb(site *web.Server, log *slog.Logger) (stop func(), err error) {
	if site == nil {
		return func() {}, nil
	}
	log = log.With("component", "web")
	hs, addr, err := site.Listen(a.cfg.Web.Listen, a.cfg.Web.TLSCert, a.cfg.Web.TLSKey)
	if err != nil {
		return nil, err
	}
	log.Info("web listening", "addr", addr.String(), "url", a.webBaseURL(), "tls", a.cfg.Web.TLSCert != "")
	return shutdown(hs, log, "web"), nil
}

// drain ends serving: running commands get ssh.drain_timeout.
func (a *app) drain(srv *server.Server, log *slog.Logger, sig os.Signal, done <-chan error) error {
	log.Info("draining", "signal", sig.String(), "timeout", a.cfg.SSH.DrainTimeout.D())
	sdnotify.Notify(sdnotify.Stopping)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.SSH.DrainTimeout.D())
	defer cancel()
	err := srv.Shutdown(ctx)
	<-done
	log.Info("stopped")
	return err
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

func (a *app) publicAddress() string {
	if a.cfg.Ports.PublicAddress != "" {
		return a.cfg.Ports.PublicAddress
	}
	return a.cfg.Hostname
}

// containerConfig is the container service's share of the configuration.
func (a *app) containerConfig(onChange func(ref.Ref)) containers.Config {
	c := a.cfg
	first, last, _ := c.Ports.PortRange()
	return containers.Config{
		DefaultImage: c.Containers.DefaultImage, Images: c.Containers.Images,
		CPU: c.Containers.CPU, Memory: int64(c.Containers.Memory), Disk: int64(c.Containers.Disk),
		Prefix:       c.Containers.ProjectPrefix,
		GPU:          lxd.GPUProfile{Name: c.GPU.Profile, NvidiaRuntime: c.GPU.NvidiaRuntime, DriverCapabilities: c.GPU.DriverCapabilities},
		SnapshotKeep: c.Snapshots.Keep,
		Services:     c.Ports.Services, PortFirst: first, PortLast: last,
		MaxCPU: c.Containers.MaxCPU, MaxMemory: int64(c.Containers.MaxMemory), MaxDisk: int64(c.Containers.MaxDisk),
		SharedGPUs: c.GPU.Shared, OnChange: onChange, Quota: c.Quota.Limits(),
		LeaseDefault: c.Leases.Default.D(), LeaseMax: c.Leases.Max.D(),
	}
}

func (a *app) sweepConfig() sweep.Config {
	return sweep.Config{IdleAfter: a.cfg.Idle.StopAfter.D(), CPUPercent: a.cfg.Idle.CPUPercent, OnlyGPU: a.cfg.Idle.OnlyGPU}
}

// bootstrapAdmin makes sure a newcomer is never locked out: with no admin in
// with a random password shown once (showInitialPassword; never logged).
// with a random password printed once on stderr (never logged).
func (a *app) bootstrapAdmin(ctx context.Context, st *users.Store) error {
	has, err := st.HasAdmin(ctx)
	if err != nil || has {
		return err
	}
	const name = "admin"
	if len(a.cfg.Auth.AdminKeys) > 0 {
		if _, err := st.AddWithKeys(ctx, name, users.RoleAdmin, []byte(strings.Join(a.cfg.Auth.AdminKeys, "\n"))); err != nil {
			return fmt.Errorf("create the first admin from auth.admin_keys: %w", err)
		}
		fmt.Fprintf(a.stderr, "lxcgate: created admin account %q with the keys in auth.admin_keys\n", name)
		return nil
	}
	pw := users.RandomPassword(20)
	if _, err := st.Add(ctx, name, users.RoleAdmin, pw); err != nil {
		if errors.Is(err, users.ErrExists) {
			return fmt.Errorf("no admin exists and the name %q is taken by a user; run 'lxcgate user add NAME --admin'", name)
		}
		return err
	}
	return a.showInitialPassword(name, pw)
}

// checkGPUs holds the instances' GPU devices to the books at every
// reconcile interval, between the full reconciles.
func checkGPUs(ctx context.Context, log *slog.Logger, cs *containers.Service, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := cs.CheckGPUs(ctx); err != nil && ctx.Err() == nil {
			log.Warn("GPU device check failed; the next pass retries", "err", err)
		}
	}
}
