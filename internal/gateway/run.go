package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/lxcgate/lxcgate/internal/sdnotify"
)

// stopRequest is Shutdown asking Run to drain.
type stopRequest struct {
	ctx  context.Context
	done chan error
}

// Run starts the background work, opens the SSH listener (and the
// metrics and web ones when configured) and serves until ctx ends,
// Shutdown is called, or (with Deps.Signals) SIGTERM or SIGINT comes;
// then it drains running commands and closes everything. It returns the
// drain's error, or why serving could not start or went on no more.
func (g *Gateway) Run(ctx context.Context) error {
	g.mu.Lock()
	g.running = true
	g.mu.Unlock()
	defer close(g.exited)
	defer g.close()
	g.start()
	ln, err := net.Listen("tcp", g.cfg.SSH.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another gateway running? set --listen)", g.cfg.SSH.Listen, err)
	}
	if err := g.serveHTTP(); err != nil {
		ln.Close()
		return err
	}
	g.setAddr(func(a *Addrs) { a.SSH = ln.Addr() })
	g.log.Info("lxcgate listening", "addr", ln.Addr().String(), "version", g.deps.Version, "data", g.cfg.Data, "lobby", g.lobby)
	return g.serve(ctx, ln)
}

// start begins the background work: the audit trail's bounds, the
// container engine, the web sessions' pruning.
func (g *Gateway) start() {
	go g.audit.Retain(g.ctx, g.cfg.Audit.Retention.D(), 24*time.Hour) // [audit] retention, at start and daily
	go g.audit.Cap(g.ctx, int64(g.cfg.Audit.MaxRows), 10*time.Minute) // [audit] max_rows: a flood must not outrun the age bound
	ec := engineConfig{every: g.cfg.Ports.ReconcileInterval.D()}
	if g.eng.client != nil {
		ec.doctor = doctorEnv(g.cfg, g.eng.client)
	}
	g.eng.start(ec)
	if g.site != nil {
		go g.site.Prune(g.ctx, time.Hour)
	}
}

// serveHTTP opens the metrics listener, then the web one, as configured;
// each is shut down at close, after the drain, so that probes see the
// gateway until it is gone.
func (g *Gateway) serveHTTP() error {
	if g.cfg.Metrics.Listen != "" {
		log := g.log.With("component", "metrics")
		hs, addr, err := g.metrics.Listen(g.cfg.Metrics.Listen, log)
		if err != nil {
			return err
		}
		g.setAddr(func(a *Addrs) { a.Metrics = addr })
		log.Info("metrics listening", "addr", addr.String())
		g.onClose(shutdown(hs, log, "metrics"))
	}
	if g.site != nil {
		log := g.log.With("component", "web")
		hs, addr, err := g.site.Listen(g.cfg.Web.Listen, g.cfg.Web.TLSCert, g.cfg.Web.TLSKey)
		if err != nil {
			return err
		}
		g.setAddr(func(a *Addrs) { a.Web = addr })
		log.Info("web listening", "addr", addr.String(), "url", webBaseURL(g.cfg), "tls", g.cfg.Web.TLSCert != "")
		g.onClose(shutdown(hs, log, "web"))
	}
	if g.apps != nil && g.cfg.Web.AppsListen != "" {
		log := g.log.With("component", "apps")
		hs, addr, err := g.listenApps()
		if err != nil {
			return err
		}
		g.setAddr(func(a *Addrs) { a.Apps = addr })
		log.Info("apps listening", "addr", addr.String(), "url", appsBaseURL(g.cfg).String(), "domain", g.cfg.Web.AppsDomain)
		g.onClose(shutdown(hs, log, "apps"))
	}
	return nil
}

// listenApps opens the web apps' own listener (web.apps_listen), with the
// web listener's certificate when it has one. Its read deadline covers
// headers only: uploads and WebSockets last as long as they last, under
// the per-user bound.
func (g *Gateway) listenApps() (*http.Server, net.Addr, error) {
	hs := &http.Server{Handler: g.apps, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", g.cfg.Web.AppsListen)
	if err != nil {
		return nil, nil, fmt.Errorf("apps: listen on %s: %w", g.cfg.Web.AppsListen, err)
	}
	if g.cfg.Web.TLSCert != "" {
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: g.site.Certificate}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("apps listener stopped", "err", err)
		}
	}()
	return hs, ln.Addr(), nil
}

func (g *Gateway) setAddr(f func(*Addrs)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(&g.addrs)
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

// serve runs the SSH server on ln until something asks it to stop.
func (g *Gateway) serve(ctx context.Context, ln net.Listener) error {
	sigs, hups := make(chan os.Signal, 1), make(chan os.Signal, 1)
	if g.deps.Signals {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		signal.Notify(hups, syscall.SIGHUP) // systemctl reload: never stops the gateway
		defer signal.Stop(sigs)
		defer signal.Stop(hups)
	}
	done := make(chan error, 1)
	acc := &accepting{Listener: ln, first: make(chan struct{})}
	go func() { done <- g.srv.Serve(acc) }()
	select {
	case <-acc.first:
	case err := <-done:
		return err
	}
	sdnotify.Notify(sdnotify.Ready) // systemd Type=notify: the listener is up and served
	close(g.ready)
	// The watchdog is fed from this loop, and only while the database
	// answers: a stuck loop (a reload that hangs) or a stuck database
	// stops the pings, and systemd restarts the gateway.
	var wd <-chan time.Time
	if every := sdnotify.WatchdogInterval(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		wd = t.C
	}
	for {
		select {
		case <-wd:
			g.feedWatchdog()
		case <-hups:
			if g.deps.Reread != nil {
				g.reread()
			}
		case err := <-done:
			return err
		case sig := <-sigs:
			return g.drain(context.Background(), done, "signal", sig.String())
		case <-ctx.Done():
			return g.drain(context.Background(), done)
		case req := <-g.stopc:
			err := g.drain(req.ctx, done)
			req.done <- err
			return err
		}
	}
}

// accepting is a listener that says when the server first waits on it.
// From then on the server's Shutdown knows it and closes it; a Shutdown
// before that would leave it serving.
type accepting struct {
	net.Listener
	once  sync.Once
	first chan struct{}
}

func (l *accepting) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.first) })
	return l.Listener.Accept()
}

// drain ends serving: running commands get ssh.drain_timeout, or until
// ctx ends if sooner. attrs say why, for the log.
func (g *Gateway) drain(ctx context.Context, done <-chan error, attrs ...any) error {
	timeout := g.cfg.SSH.DrainTimeout.D()
	g.log.Info("draining", append(attrs, "timeout", timeout)...)
	sdnotify.Notify(sdnotify.Stopping)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := g.srv.Shutdown(ctx)
	<-done
	g.log.Info("stopped")
	return err
}

// Shutdown stops a running gateway as SIGTERM does, ctx bounding the
// drain, and returns when everything is closed. A gateway that is not
// running is just closed.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	running := g.running
	g.mu.Unlock()
	if !running {
		g.close()
		return nil
	}
	req := stopRequest{ctx: ctx, done: make(chan error, 1)}
	select {
	case g.stopc <- req:
		err := <-req.done
		<-g.exited
		return err
	case <-g.exited:
		return nil
	}
}

// feedWatchdog tells systemd the gateway lives, when its database answers
// within a second; otherwise it says why it withholds the ping.
func (g *Gateway) feedWatchdog() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var one int
	if err := g.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		g.log.Warn("watchdog ping withheld: the database does not answer", "err", err)
		return
	}
	sdnotify.Notify(sdnotify.Watchdog)
}
