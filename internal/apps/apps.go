// Package apps serves web apps in containers (Jupyter, TensorBoard,
// code-server) through the gateway, behind the lab's sign-in: each app
// only to its owner, with credentials that stay at the gateway.
//
// A browser signed in to the gateway page follows a link there
// (/apps/USER/NAME/LABEL/), which mints a one-time token and sends it to
// the app's origin (/_lxcgate/auth); that origin answers with a cookie of
// its own, and from then on requests are proxied to the container's
// host-side address. Apps live on their own origins
// (LABEL--NAME--USER.apps.example) or, without a wildcard domain, under
// /USER/NAME/LABEL/ on a listener of their own.
package apps

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Resolver is the container service's side: where an app of a user's
// lives, and the use of it, for the idle stop.
type Resolver interface {
	App(ctx context.Context, user, name, label string, fold bool) (string, error)
	AppUse(user, name string) (done func())
}

// Sessions says whose gateway session a cookie is (webauth.Auth).
type Sessions interface {
	SessionUser(ctx context.Context, cookie string) (string, error)
}

// Users looks up accounts, so that a disabled one loses its apps at once.
type Users interface {
	Get(ctx context.Context, name string) (users.User, error)
}

// Auditor records audit events.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Options is everything a Server is built from.
type Options struct {
	// Domain is web.apps_domain: apps on origins LABEL--NAME--USER.Domain;
	// "" serves them under /USER/NAME/LABEL/.
	Domain string
	// Public is the apps listener's base URL as browsers see it
	// (scheme://host[:port]); in domain mode its host is Domain.
	Public *url.URL
	// Gateway is the gateway page's base URL, where browsers sign in.
	Gateway string
	Secure  bool          // cookies are Secure (HTTPS here or at a proxy)
	MaxBody int64         // largest request body; 0: no limit
	Timeout time.Duration // an app's answer must begin within this
	PerUser int           // requests under way per user, WebSockets included
	Resolve Resolver
	Session Sessions
	Users   Users
	Audit   Auditor
	Log     *slog.Logger
}

// Cookie names: the app origin's own, and the gateway's, which is never
// passed to an app.
const (
	cookieName        = "lxcgate_app"
	gatewayCookieName = "lxcgate_session"
	authPath          = "/_lxcgate/auth"
)

// Lifetimes.
const (
	tokenTTL     = time.Minute      // a minted token must be spent within this
	sessionTTL   = 12 * time.Hour   // an app cookie
	recheckEvery = 10 * time.Second // the gateway session and account are checked again after this
	resolveTTL   = 3 * time.Second  // a resolved app address is used this long
	maxSessions  = 100_000
	maxTokens    = 100_000
	maxNext      = 2048
)

// Server is the apps' handler. Create it with New; Close flushes the
// audit rows of sessions still open.
type Server struct {
	o         Options
	log       *slog.Logger
	proxy     *httputil.ReverseProxy
	transport *transport
	refuse    *throttle.Sampler // log lines of refusals, per address

	mu       sync.Mutex
	tokens   map[string]token
	sessions map[string]*session
	inflight map[string]int
	resolved map[resolveKey]resolved

	stats  *tally
	stop   chan struct{}
	closed sync.Once
}

type token struct {
	user, gwCookie, host string
	expires              time.Time
}

type session struct {
	user, gwCookie   string
	expires, checked time.Time
}

type resolveKey struct {
	user, name, label string
	fold              bool
}

type resolved struct {
	addr string
	err  error
	at   time.Time
}

// New returns a Server and starts its janitor (expired tokens and
// sessions, audit rows of ended app sessions).
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{o: o, log: o.Log.With("component", "apps"), tokens: map[string]token{}, sessions: map[string]*session{},
		inflight: map[string]int{}, resolved: map[resolveKey]resolved{}, refuse: throttle.NewBurstSampler(time.Minute, 20, 10_000),
		stop: make(chan struct{})}
	s.stats = newTally(o.Audit)
	s.proxy = s.newProxy()
	go s.janitor()
	return s
}

// Close stops the janitor and records the open app sessions.
func (s *Server) Close() {
	s.closed.Do(func() {
		close(s.stop)
		s.transport.CloseIdle()
		s.stats.flush(time.Time{})
	})
}

func (s *Server) janitor() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.prune(now)
			s.stats.flush(now.Add(-appSessionGap))
		}
	}
}

func (s *Server) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		if now.After(t.expires) {
			delete(s.tokens, k)
		}
	}
	for k, se := range s.sessions {
		if now.After(se.expires) {
			delete(s.sessions, k)
		}
	}
	for k, r := range s.resolved {
		if now.Sub(r.at) > resolveTTL {
			delete(s.resolved, k)
		}
	}
}

// URL is where owner's app label of container name is reached.
func (s *Server) URL(owner, name, label string) string {
	return URL(s.o.Domain, s.o.Public, owner, name, label)
}

// URL is where owner's app label of container name is reached, for an
// apps listener at public (in domain mode, on domain's origins).
func URL(domain string, public *url.URL, owner, name, label string) string {
	u := *public
	u.RawQuery, u.Fragment = "", ""
	if domain != "" {
		u.Host = label + "--" + strings.ToLower(name) + "--" + owner + "." + u.Host
		u.Path = "/"
		return u.String()
	}
	u.Path = "/" + owner + "/" + name + "/" + label + "/"
	return u.String()
}

// Owns reports whether a request for host is an app's (domain mode), for
// a web listener that serves the apps too.
func (s *Server) Owns(host string) bool {
	if s.o.Domain == "" {
		return false
	}
	h := strings.ToLower(stripPort(host))
	return strings.HasSuffix(h, "."+s.o.Domain)
}

// ErrNotYours is a mint for an app that is not the signed-in user's, or
// does not exist: the same answer for both.
var ErrNotYours = errors.New("no such app of yours")

// Mint is the gateway page's side of a sign-in to an app: the signed-in
// user (of the gateway session gwCookie) asks for owner's app; it returns
// the URL that takes the browser to the app's origin with a one-time
// token. next is where to land (a path of the app); "" lands at its top.
func (s *Server) Mint(ctx context.Context, user, gwCookie, owner, name, label, next string) (string, error) {
	if owner != user || gwCookie == "" {
		return "", ErrNotYours
	}
	if _, err := s.o.Resolve.App(ctx, owner, name, label, false); err != nil && !isDown(err) {
		if isNoSuch(err) {
			return "", ErrNotYours
		}
		return "", err
	}
	base, err := url.Parse(s.URL(owner, name, label))
	if err != nil {
		return "", err
	}
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || len(next) > maxNext {
		next = base.Path
	}
	tok := randomID()
	host := ""
	if s.o.Domain != "" {
		host = strings.ToLower(base.Hostname())
	}
	s.mu.Lock()
	if len(s.tokens) >= maxTokens {
		s.mu.Unlock()
		return "", errors.New("too many sign-ins to apps under way; try again in a minute")
	}
	s.tokens[tok] = token{user: user, gwCookie: gwCookie, host: host, expires: time.Now().Add(tokenTTL)}
	s.mu.Unlock()
	base.Path = authPath
	base.RawQuery = url.Values{"token": {tok}, "next": {next}}.Encode()
	return base.String(), nil
}

func randomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// target is the app a request is for.
type target struct {
	user, name, label string
	prefix            string // path mode: /USER/NAME/LABEL
}

// parsePath reads /USER/NAME/LABEL/... strictly: no empty, dot or escaped
// segment, so that no spelling reaches another app than its plain one.
func parsePath(r *http.Request) (target, bool) {
	raw := r.URL.EscapedPath()
	parts := strings.SplitN(strings.TrimPrefix(raw, "/"), "/", 4)
	if !strings.HasPrefix(raw, "/") || len(parts) < 3 {
		return target{}, false
	}
	for _, p := range parts[:3] {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "%\\") {
			return target{}, false
		}
	}
	t := target{user: parts[0], name: parts[1], label: parts[2]}
	t.prefix = "/" + t.user + "/" + t.name + "/" + t.label
	return t, true
}

// parseHost reads LABEL--NAME--USER.Domain for user me: the label has no
// "--" and the user part must be me's, so that a name holding "--"
// cannot be read as another user's.
func (s *Server) parseHost(host, me string) (target, bool) {
	h := strings.ToLower(stripPort(host))
	sub, ok := strings.CutSuffix(h, "."+s.o.Domain)
	if !ok || strings.Contains(sub, ".") {
		return target{}, false
	}
	label, rest, ok := strings.Cut(sub, "--")
	if !ok {
		return target{}, false
	}
	name, ok := strings.CutSuffix(rest, "--"+me)
	if !ok || name == "" || label == "" {
		return target{}, false
	}
	return target{user: me, name: name, label: label}, true
}

// guessHost reads the parts of an app's host without knowing who asks:
// only for sending a browser to sign in.
func (s *Server) guessHost(host string) (target, bool) {
	h := strings.ToLower(stripPort(host))
	sub, ok := strings.CutSuffix(h, "."+s.o.Domain)
	if !ok {
		return target{}, false
	}
	label, rest, ok1 := strings.Cut(sub, "--")
	i := strings.LastIndex(rest, "--")
	if !ok1 || i < 0 {
		return target{}, false
	}
	return target{label: label, name: rest[:i], user: rest[i+2:]}, true
}

// resolve finds the app's address, remembered for resolveTTL.
func (s *Server) resolve(ctx context.Context, t target) (string, error) {
	k := resolveKey{t.user, t.name, t.label, s.o.Domain != ""}
	now := time.Now()
	s.mu.Lock()
	r, ok := s.resolved[k]
	s.mu.Unlock()
	if ok && now.Sub(r.at) < resolveTTL {
		return r.addr, r.err
	}
	addr, err := s.o.Resolve.App(ctx, k.user, k.name, k.label, k.fold)
	if err == nil || isNoSuch(err) || isDown(err) {
		s.mu.Lock()
		s.resolved[k] = resolved{addr, err, now}
		s.mu.Unlock()
	}
	return addr, err
}

// Forget drops what is remembered of user's apps (a port withdrawn, a
// container stopped).
func (s *Server) Forget(user, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.resolved {
		if k.user == user && (name == "" || strings.EqualFold(k.name, name)) {
			delete(s.resolved, k)
		}
	}
}

func isNoSuch(err error) bool { return errors.Is(err, containers.ErrNoSuch) }
func isDown(err error) bool   { return errors.Is(err, containers.ErrAppDown) }

func (s *Server) refused(r *http.Request, user, why string) {
	if ok, _ := s.refuse.Allow(stripPort(r.RemoteAddr)); ok {
		s.log.Warn("app request refused", "user", user, "remote", r.RemoteAddr, "host", r.Host, "why", why)
	}
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
