// Package web serves the lab's status page and its JSON API (/api/v1).
// Browsers sign in with a one-time link that 'web' prints over SSH;
// scripts send an API token from 'token create'. Both reach the same
// container service, with the same checks, quotas and locks as the shell,
// and write the same JSON shapes as its --json.
package web

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/tick"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Users looks up the signed-in user afresh on every request, so that a
// role change or a disabled account applies at once.
type Users interface {
	Get(ctx context.Context, name string) (users.User, error)
}

// Auth checks the web's credentials; webauth.Auth satisfies it.
type Auth interface {
	LinkUser(ctx context.Context, secret string) (string, error)
	Redeem(ctx context.Context, secret string) (cookie, user string, err error)
	SessionUser(ctx context.Context, cookie string) (string, error)
	EndSession(ctx context.Context, cookie string) error
	EndSessions(ctx context.Context, user string) (int64, error)
	TokenUser(ctx context.Context, secret string) (string, error)
	Prune(ctx context.Context) error
}

// Auditor records audit events.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Options is everything a Server is built from.
type Options struct {
	Service containers.API // the containers, for the pages and the API
	Users   Users
	Auth    Auth
	Audit   Auditor
	Log     *slog.Logger
	Host    string // the gateway's name, in titles
	Public  string // host address in the ready ssh lines
	// PublicURL is where browsers reach the listener (web.public_url),
	// perhaps through a proxy: its origin may post sign-ins, besides the
	// request's own host.
	PublicURL string
	// Secure marks the session cookie Secure: set it when browsers reach
	// the listener over HTTPS (TLS here, or a proxy in front).
	Secure bool
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; from any other peer the header is ignored.
	TrustedProxies []netip.Prefix
	// Apps serves web apps in containers; nil: off.
	Apps Apps
	// Throttle counts failed credentials per source address; the SSH
	// server's, so that one budget covers both doors. Nil: the listener
	// keeps its own.
	Throttle *throttle.Throttle
}

// Server is the web listener's handler. Create it with New.
type Server struct {
	o       Options
	log     *slog.Logger
	mux     *http.ServeMux
	signins *throttle.Rate     // sign-in requests per address
	failed  *throttle.Throttle // failed credentials per address, shared with SSH (Options.Throttle)
	perUser *throttle.Rate     // API requests per user: a runaway script must not starve the others
	quiet   *throttle.Sampler  // audit rows of requests without valid credentials, per address

	// The TLS pair in use, read from certFile and keyFile; ReloadCert
	// replaces it (SIGHUP) while connections keep being served.
	cert              atomic.Pointer[tls.Certificate]
	certFile, keyFile string
}

//go:embed static templates openapi.json
var files embed.FS

// Limits of the listener.
const (
	maxBody           = 64 << 10 // a JSON request body
	readHeaderTimeout = 10 * time.Second
	requestTimeout    = 10 * time.Minute // a launch may download an image
	apiPerMinute      = 600              // API requests of one user, as a bucket refilled each minute
	// Audit rows of requests without valid credentials: this many per
	// client address a minute, for at most quietKeys addresses (the rest
	// share one budget); the others are counted in the next row.
	quietPerMinute = 10
	quietKeys      = 10_000
	maxAuditPath   = 512 // bytes of a request's path in its audit row
)

// ownFailures is the failure budget per address of a listener not handed
// the SSH server's (Options.Throttle).
var ownFailures = throttle.Limits{PerAddress: 20, Window: time.Minute, Lockout: time.Minute}

// New returns a Server with every route.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, log: o.Log.With("component", "web"), mux: http.NewServeMux(),
		signins: throttle.NewRate(10, time.Minute, o.Now), failed: o.Throttle,
		perUser: throttle.NewRate(apiPerMinute, time.Minute, o.Now), quiet: throttle.NewBurstSampler(time.Minute, quietPerMinute, quietKeys)}
	if s.failed == nil {
		s.failed = throttle.New(ownFailures)
		s.failed.SetClock(o.Now)
	}
	s.quiet.SetClock(o.Now)
	static, _ := fs.Sub(files, "static")
	s.mux.Handle("GET /static/", s.open(http.StripPrefix("/static/", http.FileServerFS(static))))
	s.pageRoutes()
	s.apiRoutes()
	s.appRoutes()
	return s
}

// ServeHTTP serves one request: security headers first, then the route,
// audited.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.o.Apps != nil && s.o.Apps.Owns(r.Host) {
		// An app's own origin (web.apps_domain): its pages, its headers.
		r.RemoteAddr = s.clientAddr(r)
		s.o.Apps.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if r.TLS != nil || s.o.Secure {
		// HTTPS here or at the proxy: a browser that met the site over
		// HTTPS never tries plain HTTP for it again, for a year.
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	// From here on the client's address is the one that counts, even
	// behind a proxy (Options.TrustedProxies).
	r.RemoteAddr = s.clientAddr(r)
	s.mux.ServeHTTP(w, r)
}

// Listen starts serving on addr (HTTPS when cert and key are given) and
// returns the server, to be shut down, and the address it listens on.
func (s *Server) Listen(addr, cert, key string) (*http.Server, net.Addr, error) {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if cert != "" {
		s.certFile, s.keyFile = cert, key
		if err := s.ReloadCert(); err != nil {
			return nil, nil, err
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("web: listen on %s: %w", addr, err)
	}
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("web listener stopped", "err", err)
		}
	}()
	return hs, ln.Addr(), nil
}

// Certificate is the TLS pair in use, for another listener that serves
// the same names (web.apps_listen).
func (s *Server) Certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cert.Load(), nil
}

// ReloadCert reads the certificate and key files given to Listen again
// (after a renewal; serve calls it on SIGHUP): new connections get the new
// pair, open ones keep theirs. A pair that does not load (a missing file,
// a key that does not match) changes nothing and is returned. Without TLS
// it does nothing.
func (s *Server) ReloadCert() error {
	if s.certFile == "" {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return fmt.Errorf("web: TLS certificate %s: %w", s.certFile, err)
	}
	s.cert.Store(&pair)
	return nil
}

// TLS reports whether the listener serves HTTPS itself.
func (s *Server) TLS() bool { return s.certFile != "" }

// Prune deletes expired sessions and links every interval until ctx ends,
// and records how many requests without credentials the sampling kept out
// of the audit trail without counting them in a later row.
func (s *Server) Prune(ctx context.Context, every time.Duration) {
	prune := func() {
		if err := s.o.Auth.Prune(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning expired web sessions failed", "err", err)
		}
		if n := s.quiet.Drain(); n > 0 {
			s.o.Audit.Record(ctx, audit.Event{Kind: audit.KindWeb, Method: "none",
				Detail: fmt.Sprintf("%d requests without credentials were not recorded row by row", n)})
		}
	}
	prune()
	tick.Every(ctx, every, prune)
}
