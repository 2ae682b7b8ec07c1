package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/webauth"
)

// cookieName is the session cookie's; its value is a random secret that is
// stored hashed.
const cookieName = "lxcgate_session"

// csrfHeader carries the CSRF token of a cookie-authenticated API write;
// forms send it as the field "csrf".
const csrfHeader = "X-CSRF-Token"

// caller is who made a request, decided once per request.
type caller struct {
	user   users.User
	method string // "token", "session" or "" (nobody)
	cookie string // the session's cookie value, for its CSRF token
	remote string
}

func (c caller) csrf() string { return webauth.CSRF(c.cookie) }

// refusal is why a request was refused: the status, what the client is
// told, and what the audit row adds.
type refusal struct {
	status int
	msg    string
}

func (e *refusal) Error() string { return e.msg }

func refuse(status int, msg string) *refusal { return &refusal{status, msg} }

// handler is a route's work for a known caller; it returns a note for the
// audit row (what it did, or why it failed).
type handler func(w http.ResponseWriter, r *http.Request, c caller) string

// guard resolves the caller, then runs h; every request leaves one audit
// row (kind, user, remote, method and path, status), never a secret.
func (s *Server) guard(kind string, h handler, onRefusal func(http.ResponseWriter, *http.Request, *refusal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		c, err := s.identify(r)
		if err == nil && kind == audit.KindAPI && !s.perUser.Take(c.user.Name) {
			err = refuse(http.StatusTooManyRequests, fmt.Sprintf("over %d API requests a minute; slow down", apiPerMinute))
		}
		note := ""
		if err != nil {
			onRefusal(sw, r, err)
			note = err.msg
		} else {
			note = h(sw, r, c)
		}
		s.record(r, kind, c, sw.code(), note)
	}
}

// open serves a route that needs no credentials (the stylesheet, the
// OpenAPI document), audited all the same, as nobody.
func (s *Server) open(h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		s.record(r, audit.KindWeb, caller{remote: r.RemoteAddr}, sw.code(), "")
	}
}

// identify decides who sent r: a bearer token, or a session cookie (with
// its CSRF token on writes). A disabled or deleted user is nobody, and a
// disabled user's sessions end.
func (s *Server) identify(r *http.Request) (caller, *refusal) {
	c := caller{remote: r.RemoteAddr}
	addr := auth.AddrGroup(r.RemoteAddr)
	ctx := r.Context()
	var name string
	if authz := r.Header.Get("Authorization"); authz != "" {
		if _, locked := s.failed.AddressLocked(addr); locked {
			return c, refuse(http.StatusTooManyRequests, "too many failed sign-ins from your address; wait a minute")
		}
		secret, ok := strings.CutPrefix(authz, "Bearer ")
		var err error
		if name, err = s.o.Auth.TokenUser(ctx, strings.TrimSpace(secret)); !ok || err != nil {
			s.failed.AddressFailure(addr)
			return c, s.authErr(err, "invalid or expired token")
		}
		c.method = "token"
	} else {
		ck, err := r.Cookie(cookieName)
		if err != nil {
			return c, refuse(http.StatusUnauthorized, "not signed in: run 'ssh GATEWAY web' for a sign-in link, or send a token")
		}
		if name, err = s.o.Auth.SessionUser(ctx, ck.Value); err != nil {
			return c, s.authErr(err, "your session ended: run 'ssh GATEWAY web' for a new sign-in link")
		}
		c.method, c.cookie = "session", ck.Value
	}
	u, err := s.o.Users.Get(ctx, name)
	if err != nil || u.Disabled {
		if err == nil {
			if _, err := s.o.Auth.EndSessions(ctx, name); err != nil {
				s.log.Warn("ending a disabled user's sessions failed", "user", name, "err", err)
			}
		}
		return c, refuse(http.StatusUnauthorized, "your account may not sign in")
	}
	c.user = u
	if c.method == "session" && !safeMethod(r.Method) && !s.csrfOK(r, c) {
		return c, refuse(http.StatusForbidden, "missing or wrong CSRF token: reload the page")
	}
	return c, nil
}

// authErr is the refusal of a bad credential; a database failure says so
// instead.
func (s *Server) authErr(err error, msg string) *refusal {
	if err != nil && !errors.Is(err, webauth.ErrInvalid) {
		s.log.Error("checking web credentials failed", "err", err)
		return refuse(http.StatusServiceUnavailable, "cannot check credentials now; try again")
	}
	return refuse(http.StatusUnauthorized, msg)
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// csrfOK checks the CSRF token of a cookie-authenticated write, from the
// header (API) or the form (pages).
func (s *Server) csrfOK(r *http.Request, c caller) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(nil, r.Body, maxBody)
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.csrf())) == 1
}

// record writes the request's audit row: the path only (a sign-in link's
// secret is in the query, and stays out), cut to maxAuditPath. A request
// without valid credentials (the stylesheet's included) is sampled per
// client address: anyone may send them, and each must not cost a row.
func (s *Server) record(r *http.Request, kind string, c caller, status int, note string) {
	path := r.URL.Path
	if len(path) > maxAuditPath {
		path = fmt.Sprintf("%s…(%d bytes)", path[:maxAuditPath], len(path))
	}
	detail := fmt.Sprintf("%s %s => %d", r.Method, path, status)
	if note != "" {
		detail += ": " + note
	}
	if c.user.Name == "" {
		ok, suppressed := s.quiet.Allow(auth.AddrGroup(c.remote))
		if !ok {
			return
		}
		if suppressed > 0 {
			detail += fmt.Sprintf("; %d more requests without credentials from this address since the last record", suppressed)
		}
	}
	method := c.method
	if method == "" {
		method = "none"
	}
	s.o.Audit.Record(r.Context(), audit.Event{Kind: kind, User: c.user.Name, Remote: c.remote,
		Method: method, Detail: detail, OK: status < 400})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// signinPage shows who a link signs in, without using it: a link
// preview or prefetch must not spend it. The form posts it back.
func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	c := caller{remote: r.RemoteAddr}
	note := s.signinForm(sw, r)
	s.record(r, audit.KindWeb, c, sw.code(), note)
}

func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) string {
	if !s.signins.Take(auth.AddrGroup(r.RemoteAddr)) {
		s.errorPage(w, r, refuse(http.StatusTooManyRequests, "Too many sign-in attempts from your address; wait a minute."))
		return "rate limited"
	}
	secret := r.URL.Query().Get("t")
	name, err := s.o.Auth.LinkUser(r.Context(), secret)
	if err != nil {
		s.errorPage(w, r, s.linkErr(err))
		return "bad link"
	}
	// With no-referrer, a browser's post from this page says "Origin: null";
	// same-origin lets it name this site (sameOrigin), and still sends
	// nothing to any other.
	w.Header().Set("Referrer-Policy", "same-origin")
	s.render(w, http.StatusOK, "signin.html", map[string]any{"Title": "Sign in", "Name": name, "Secret": secret})
	return "link of " + name
}

// signin spends a link and starts a session: the link goes and the
// session comes in one transaction.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	c := caller{remote: r.RemoteAddr, method: "link"}
	note := ""
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	switch cookie, name, err := s.redeem(r); {
	case err != nil:
		s.errorPage(sw, r, err)
		note = err.msg
	default:
		c.user.Name = name
		http.SetCookie(sw, &http.Cookie{Name: cookieName, Value: cookie, Path: "/", MaxAge: int(webauth.SessionTTL.Seconds()),
			HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteStrictMode})
		http.Redirect(sw, r, "/", http.StatusSeeOther)
		note = "signed in"
	}
	s.record(r, audit.KindWeb, c, sw.code(), note)
}

func (s *Server) redeem(r *http.Request) (cookie, name string, _ *refusal) {
	if !s.sameOrigin(r) {
		return "", "", refuse(http.StatusForbidden, "Sign-ins are accepted only from this site's own page: open the link from 'ssh GATEWAY web' again.")
	}
	addr := auth.AddrGroup(r.RemoteAddr)
	if !s.signins.Take(addr) {
		return "", "", refuse(http.StatusTooManyRequests, "Too many sign-in attempts from your address; wait a minute.")
	}
	cookie, name, err := s.o.Auth.Redeem(r.Context(), r.PostFormValue("t"))
	if err != nil {
		return "", "", s.linkErr(err)
	}
	u, err := s.o.Users.Get(r.Context(), name)
	if err != nil || u.Disabled {
		_ = s.o.Auth.EndSession(r.Context(), cookie)
		return "", "", refuse(http.StatusUnauthorized, "Your account may not sign in.")
	}
	return cookie, name, nil
}

// sameOrigin reports whether a sign-in was posted by this site's own page
// (login CSRF: a cross-site page must not sign the victim's browser in as
// the attacker). Browsers say where a post comes from. Sec-Fetch-Site,
// which a page cannot forge, decides when sent: same-origin only. Without
// it (an older browser), Origin must name the request's host or
// public_url's origin; "null" is refused, since a hostile page can make
// its posts say that. A client that sends neither (curl) is no browser on
// a hostile page and is let through.
func (s *Server) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none" // none: the user's own action, no page behind it
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	// The scheme is not compared with the request's: behind a proxy that
	// terminates HTTPS, the browser's https is plain http here.
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	pub, err := url.Parse(s.o.PublicURL)
	return s.o.PublicURL != "" && err == nil && strings.EqualFold(u.Scheme, pub.Scheme) && strings.EqualFold(u.Host, pub.Host)
}

func (s *Server) linkErr(err error) *refusal {
	if errors.Is(err, webauth.ErrInvalid) {
		return refuse(http.StatusUnauthorized, "This sign-in link is unknown, used or expired. Run 'ssh GATEWAY web' for a new one.")
	}
	s.log.Error("sign-in failed", "err", err)
	return refuse(http.StatusServiceUnavailable, "Cannot sign you in now; try again in a moment.")
}

// signout ends this browser's session.
func (s *Server) signout(w http.ResponseWriter, r *http.Request, c caller) string {
	if err := s.o.Auth.EndSession(r.Context(), c.cookie); err != nil {
		s.errorPage(w, r, refuse(http.StatusServiceUnavailable, "Cannot sign you out now; try again."))
		return err.Error()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.o.Secure,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return "signed out"
}
