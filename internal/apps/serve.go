package apps

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ServeHTTP serves one request for an app: the sign-in landing, or a
// signed-in owner's request, proxied.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == authPath {
		s.land(w, r)
		return
	}
	me, ok := s.identify(r)
	var t target
	switch {
	case !ok:
		s.signIn(w, r)
		return
	case s.o.Domain != "":
		t, ok = s.parseHost(r.Host, me)
	default:
		t, ok = parsePath(r)
		ok = ok && t.user == me
	}
	if !ok {
		// Another user's app, an admin's request included, or no app at
		// all: the same answer, whatever the spelling.
		s.refused(r, me, "not an app of theirs")
		plain(w, http.StatusNotFound, "no such app of yours")
		return
	}
	if t.prefix != "" && r.URL.Path == t.prefix {
		// Apps under a base URL expect its trailing slash.
		u := *r.URL
		u.Path += "/"
		u.RawPath = ""
		http.Redirect(w, r, u.RequestURI(), http.StatusMovedPermanently)
		return
	}
	addr, err := s.resolve(r.Context(), t)
	switch {
	case isNoSuch(err):
		s.refused(r, me, "no such app")
		plain(w, http.StatusNotFound, "no such app of yours")
		return
	case isDown(err):
		plain(w, http.StatusBadGateway, err.Error())
		return
	case err != nil:
		s.log.Warn("resolving an app failed", "user", me, "name", t.name, "app", t.label, "err", err)
		plain(w, http.StatusServiceUnavailable, "the app cannot be reached now; try again")
		return
	}
	if !s.enter(me) {
		s.refused(r, me, "too many requests under way")
		plain(w, http.StatusTooManyRequests, "too many requests to your apps under way; close some tabs or wait")
		return
	}
	defer s.leave(me)
	if s.o.MaxBody > 0 {
		if r.ContentLength > s.o.MaxBody {
			plain(w, http.StatusRequestEntityTooLarge, "the request body is over the gateway's limit for apps (web.apps_max_body)")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxBody)
	}
	// Uploads and WebSockets outlast the listener's read deadline; the
	// per-user bound caps what they hold.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	done := s.o.Resolve.AppUse(me, t.name)
	defer done()
	cw := &countWriter{ResponseWriter: w}
	in := &countReader{ReadCloser: r.Body}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = in
	}
	start := time.Now()
	s.proxy.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), addrKey{}, proxied{addr: addr, t: t})))
	s.stats.add(appKey{me, t.name, t.label}, r.RemoteAddr, start, in.n.Load(), cw.n)
}

type addrKey struct{}

type proxied struct {
	addr string
	t    target
}

// identify returns the user of the request's app cookie, checking again
// now and then that their gateway session and account still hold.
func (s *Server) identify(r *http.Request) (string, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return "", false
	}
	now := time.Now()
	s.mu.Lock()
	se, ok := s.sessions[c.Value]
	if ok && now.After(se.expires) {
		delete(s.sessions, c.Value)
		ok = false
	}
	var sess session
	if ok {
		sess = *se
	}
	s.mu.Unlock()
	if !ok {
		return "", false
	}
	if now.Sub(sess.checked) < recheckEvery {
		return sess.user, true
	}
	name, err := s.o.Session.SessionUser(r.Context(), sess.gwCookie)
	if err == nil && name == sess.user {
		if u, uerr := s.o.Users.Get(r.Context(), name); uerr != nil || u.Disabled {
			err = errors.New("account disabled")
		}
	} else if err == nil {
		err = errors.New("session of another user")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.sessions, c.Value)
		return "", false
	}
	if se, ok := s.sessions[c.Value]; ok {
		se.checked = now
	}
	return sess.user, true
}

// signIn answers a request without credentials: a browser is sent to the
// gateway, which signs it in to this app; anything else gets 401.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	var t target
	ok := false
	if s.o.Domain != "" {
		t, ok = s.guessHost(r.Host)
	} else {
		t, ok = parsePath(r)
	}
	browser := (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
	if !ok || !browser {
		w.Header().Set("WWW-Authenticate", `Cookie realm="lxcgate apps"`)
		plain(w, http.StatusUnauthorized, "not signed in: open the app's link from the gateway page ('ssh GATEWAY web' signs you in)")
		return
	}
	next := r.URL.RequestURI()
	if len(next) > maxNext {
		next = ""
	}
	to := strings.TrimSuffix(s.o.Gateway, "/") + "/apps/" + url.PathEscape(t.user) + "/" + url.PathEscape(t.name) + "/" +
		url.PathEscape(t.label) + "/?next=" + url.QueryEscape(next)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// land spends a minted token and gives the browser this origin's cookie.
func (s *Server) land(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tok, next := q.Get("token"), q.Get("next")
	now := time.Now()
	s.mu.Lock()
	t, ok := s.tokens[tok]
	delete(s.tokens, tok)
	valid := ok && now.Before(t.expires) && (t.host == "" || t.host == strings.ToLower(stripPort(r.Host)))
	id := ""
	if valid && len(s.sessions) < maxSessions {
		id = randomID()
		s.sessions[id] = &session{user: t.user, gwCookie: t.gwCookie, expires: now.Add(sessionTTL), checked: now}
	}
	s.mu.Unlock()
	if !valid {
		s.refused(r, t.user, "a spent, expired or foreign sign-in token")
		plain(w, http.StatusForbidden, "this sign-in link was used or has expired: open the app from the gateway page again")
		return
	}
	if id == "" {
		plain(w, http.StatusServiceUnavailable, "too many app sessions; try again later")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteLaxMode})
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		next = "/"
	}
	w.Header().Set("Referrer-Policy", "no-referrer") // the token stays out of the app's logs
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) enter(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[user] >= s.o.PerUser {
		return false
	}
	s.inflight[user]++
	return true
}

func (s *Server) leave(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[user]--; s.inflight[user] <= 0 {
		delete(s.inflight, user)
	}
}

// newProxy is the reverse proxy: the gateway's credentials are taken off
// the request, X-Forwarded-* set, and the app's cookies kept to its own
// origin (and, under paths, its own prefix).
func (s *Server) newProxy() *httputil.ReverseProxy {
	tr := newTransport(s.o.Timeout)
	s.transport = tr
	return &httputil.ReverseProxy{
		Transport: tr,
		// FlushInterval 0: the proxy flushes server-sent events and bodies
		// of unknown length as they come, and a known length once.
		BufferPool: bufferPool{},
		Rewrite: func(pr *httputil.ProxyRequest) {
			p := pr.In.Context().Value(addrKey{}).(proxied)
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", p.addr
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Proxy-Authorization")
			stripCookies(pr.Out.Header)
		},
		ModifyResponse: func(resp *http.Response) error {
			p := resp.Request.Context().Value(addrKey{}).(proxied)
			keepCookies(resp.Header, p.t.prefix)
			return nil
		},
		ErrorHandler: s.proxyError,
		ErrorLog:     nil,
	}
}

func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var mb *http.MaxBytesError
	var ne net.Error
	p, _ := r.Context().Value(addrKey{}).(proxied)
	switch {
	case errors.As(err, &mb):
		plain(w, http.StatusRequestEntityTooLarge, "the request body is over the gateway's limit for apps (web.apps_max_body)")
	case r.Context().Err() != nil:
		// The client left; nobody reads an answer.
	case errors.As(err, &ne) && ne.Timeout():
		plain(w, http.StatusGatewayTimeout, "the app "+p.t.label+" of "+p.t.name+" did not answer in time")
	default:
		s.log.Info("an app did not answer", "user", p.t.user, "name", p.t.name, "app", p.t.label, "err", err)
		plain(w, http.StatusBadGateway, "the app "+p.t.label+" of "+p.t.name+" does not answer: is it running, on the port it was published with?")
	}
}

// stripCookies removes the gateway's cookies from a request's Cookie
// headers, keeping the app's own.
func stripCookies(h http.Header) {
	lines := h.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var keep []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name == "" || name == cookieName || name == gatewayCookieName {
				continue
			}
			keep = append(keep, strings.TrimSpace(part))
		}
	}
	h.Del("Cookie")
	if len(keep) > 0 {
		h.Set("Cookie", strings.Join(keep, "; "))
	}
}

// keepCookies rewrites an app's Set-Cookie headers: no Domain (host-only,
// so never the gateway's origin nor another app's), none of the
// gateway's names, and under paths a Path within the app's prefix.
func keepCookies(h http.Header, prefix string) {
	lines := h.Values("Set-Cookie")
	if len(lines) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err != nil || strings.HasPrefix(c.Name, "lxcgate_") || strings.HasPrefix(c.Name, "__Host-lxcgate") {
			continue
		}
		c.Domain = ""
		if prefix != "" && !(c.Path == prefix || strings.HasPrefix(c.Path, prefix+"/")) {
			c.Path = prefix + "/"
		}
		if v := c.String(); v != "" {
			h.Add("Set-Cookie", v)
		}
	}
}

// bufferPool lends the proxy its copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// countWriter counts the bytes of a response; Unwrap lets the proxy
// flush and hijack (WebSockets) through it.
type countWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *countWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countReader counts the bytes of a request body.
type countReader struct {
	io.ReadCloser
	n atomic.Int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	return n, err
}
