package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// How long /readyz waits for LXD, and how long its answer is reused: a
// probe every second must not become an LXD call every second.
const (
	lxdTimeout = 2 * time.Second
	lxdReuse   = 5 * time.Second
)

// Handler serves /metrics, /healthz and /readyz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Ready(r.Context()); err != nil {
			plain(w, http.StatusServiceUnavailable, "not ready: "+oneLine(err.Error()))
			return
		}
		plain(w, http.StatusOK, "ready")
	})
	return mux
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Ready says why the gateway cannot do its work now, or nil: LXD must
// answer and the last full port reconcile must have succeeded.
func (m *Metrics) Ready(ctx context.Context) error {
	src := m.sources()
	if src.LXD == nil || src.Synced == nil {
		return errors.New("starting")
	}
	if err := m.lxdAnswers(ctx, src.LXD); err != nil {
		return fmt.Errorf("LXD does not answer: %w", err)
	}
	if err := src.Synced(); err != nil {
		return fmt.Errorf("port mappings not in sync: %w", err)
	}
	return nil
}

// lxdAnswers asks LXD at most every lxdReuse; concurrent probes share one
// call.
func (m *Metrics) lxdAnswers(ctx context.Context, ping func(context.Context) error) error {
	m.readyMu.Lock()
	defer m.readyMu.Unlock()
	if !m.lxdAt.IsZero() && time.Since(m.lxdAt) < lxdReuse {
		return m.lxdErr
	}
	ctx, cancel := context.WithTimeout(ctx, lxdTimeout)
	defer cancel()
	m.lxdErr = ping(ctx)
	m.lxdAt = time.Now()
	return m.lxdErr
}

// Listen serves the handler on addr until the returned server is shut
// down. It is a listener of its own, apart from SSH: scrapers and probes
// never touch the gateway's port.
func (m *Metrics) Listen(addr string, log *slog.Logger) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	return srv, ln.Addr(), nil
}
