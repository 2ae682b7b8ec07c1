package apps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/users"
)

// fakes: the container service, the gateway's sessions and accounts.
type fakeResolve struct {
	mu    sync.Mutex
	apps  map[string]string // "user/name/label" -> addr
	down  map[string]bool
	calls int
	uses  int
}

func (f *fakeResolve) App(_ context.Context, user, name, label string, fold bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if fold {
		name = strings.ToLower(name)
	}
	k := user + "/" + name + "/" + label
	if f.down[k] {
		return "", fmt.Errorf("%s is %w", name, containers.ErrAppDown)
	}
	addr, ok := f.apps[k]
	if !ok {
		return "", fmt.Errorf("%w: %s", containers.ErrNoSuch, k)
	}
	return addr, nil
}

func (f *fakeResolve) AppUse(string, string) func() {
	f.mu.Lock()
	f.uses++
	f.mu.Unlock()
	return func() {}
}

type fakeSessions struct {
	mu    sync.Mutex
	users map[string]string // gateway cookie -> user
}

func (f *fakeSessions) SessionUser(_ context.Context, c string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[c]; ok {
		return u, nil
	}
	return "", errors.New("invalid")
}

type fakeUsers struct{ disabled map[string]bool }

func (f fakeUsers) Get(_ context.Context, name string) (users.User, error) {
	return users.User{Name: name, Disabled: f.disabled[name]}, nil
}

type fakeAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (f *fakeAudit) Record(_ context.Context, e audit.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

// rig is an apps server in front of one backend app of alice's and one
// of bob's, in path or domain mode.
type rig struct {
	t       *testing.T
	s       *Server
	front   *httptest.Server
	res     *fakeResolve
	sess    *fakeSessions
	audit   *fakeAudit
	backend *httptest.Server
	seen    chan *http.Request
}

func newRig(t *testing.T, domain string, opts ...func(*Options)) *rig {
	t.Helper()
	r := &rig{t: t, seen: make(chan *http.Request, 100), audit: &fakeAudit{}}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	routes := map[string]http.HandlerFunc{}
	handle := func(p string, h http.HandlerFunc) { routes[p] = h }
	handle("/", func(w http.ResponseWriter, req *http.Request) {
		select {
		case r.seen <- req.Clone(context.Background()):
		default:
		}
		http.SetCookie(w, &http.Cookie{Name: "app", Value: "1", Path: "/elsewhere", Domain: "example.net"})
		http.SetCookie(w, &http.Cookie{Name: "lxcgate_session", Value: "stolen", Path: "/"})
		fmt.Fprintf(w, "app at %s", req.URL.Path)
	})
	handle("/ws", func(w http.ResponseWriter, req *http.Request) {
		c, err := up.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, b)
		}
	})
	handle("/sse", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	})
	handle("/slow", func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-req.Context().Done():
		}
	})
	handle("/upload", func(w http.ResponseWriter, req *http.Request) {
		n, err := io.Copy(io.Discard, req.Body)
		fmt.Fprintf(w, "%d %v", n, err)
	})
	// Paths under an app's prefix reach the same handlers.
	r.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if h, ok := routes[req.URL.Path[strings.LastIndex(req.URL.Path, "/"):]]; ok {
			h(w, req)
			return
		}
		routes["/"](w, req)
	}))
	t.Cleanup(r.backend.Close)
	addr := r.backend.Listener.Addr().String()
	r.res = &fakeResolve{apps: map[string]string{"alice/box/jupyter": addr, "bob/box/jupyter": addr, "admin/box/jupyter": addr}, down: map[string]bool{}}
	r.sess = &fakeSessions{users: map[string]string{"gw-alice": "alice", "gw-bob": "bob", "gw-admin": "admin"}}
	r.front = httptest.NewUnstartedServer(nil)
	pub, _ := url.Parse("http://" + r.front.Listener.Addr().String())
	if domain != "" {
		pub.Host = domain + ":" + pub.Port()
	}
	o := Options{Domain: domain, Public: pub, Gateway: "http://gw.test", MaxBody: 1 << 20, Timeout: time.Second, PerUser: 4,
		Resolve: r.res, Session: r.sess, Users: fakeUsers{}, Audit: r.audit}
	for _, f := range opts {
		f(&o)
	}
	r.s = New(o)
	t.Cleanup(r.s.Close)
	r.front.Config.Handler = r.s
	r.front.Start()
	t.Cleanup(r.front.Close)
	return r
}

// client is a browser-like client whose every request goes to the rig's
// listener, whatever host its URL names.
func (r *rig) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	addr := r.front.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	return &http.Client{Jar: jar, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn mints for user's gateway session and lands, as the gateway page's link does.
func (r *rig) signIn(c *http.Client, user, owner, name, label string) {
	r.t.Helper()
	to, err := r.s.Mint(context.Background(), user, "gw-"+user, owner, name, label, "")
	if err != nil {
		r.t.Fatalf("mint: %v", err)
	}
	resp, err := c.Get(to)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		r.t.Fatalf("landing: %d", resp.StatusCode)
	}
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestSignInFlowPathMode(t *testing.T) {
	r := newRig(t, "")
	base := r.s.URL("alice", "box", "jupyter")
	c := r.client()
	// No credentials: a browser is sent to the gateway, a script gets 401.
	code, _, h := get(t, c, base+"tree?x=1", "Accept", "text/html")
	if code != http.StatusSeeOther || h.Get("Location") != "http://gw.test/apps/alice/box/jupyter/?next="+url.QueryEscape("/alice/box/jupyter/tree?x=1") {
		t.Fatalf("browser without cookie: %d %q", code, h.Get("Location"))
	}
	if code, _, _ := get(t, c, base); code != http.StatusUnauthorized {
		t.Fatalf("script without cookie: %d", code)
	}
	// Minting is for one's own apps only.
	for _, tc := range [][3]string{{"bob", "box", "jupyter"}, {"alice", "nope", "jupyter"}, {"alice", "box", "nope"}} {
		if _, err := r.s.Mint(context.Background(), "alice", "gw-alice", tc[0], tc[1], tc[2], ""); !errors.Is(err, ErrNotYours) {
			t.Errorf("mint %v: %v", tc, err)
		}
	}
	to, err := r.s.Mint(context.Background(), "alice", "gw-alice", "alice", "box", "jupyter", "/alice/box/jupyter/tree")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(to)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/alice/box/jupyter/tree" ||
		!strings.Contains(ck, "HttpOnly") || strings.Contains(ck, "Domain") || strings.Contains(ck, "Secure") {
		t.Fatalf("landing: %d %q %q", resp.StatusCode, resp.Header.Get("Location"), ck)
	}
	// A token is spent once.
	if resp, _ := r.client().Get(to); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second landing: %d", resp.StatusCode)
	}
	code, body, hdr := get(t, c, base+"tree", "Cookie", "theirs=1", "Authorization", "Bearer gateway-token")
	if code != 200 || body != "app at /alice/box/jupyter/tree" {
		t.Fatalf("proxied: %d %q", code, body)
	}
	in := <-r.seen
	if in.Header.Get("Authorization") != "" || strings.Contains(in.Header.Get("Cookie"), "lxcgate") ||
		in.Header.Get("X-Forwarded-For") == "" || in.Header.Get("X-Forwarded-Proto") != "http" || in.Header.Get("X-Forwarded-Host") == "" {
		t.Fatalf("the app saw %v", in.Header)
	}
	// The app's cookies stay host-only and under its prefix; the
	// gateway's names are not the app's to set.
	sc := strings.Join(hdr.Values("Set-Cookie"), "\n")
	if strings.Contains(sc, "lxcgate_session") || strings.Contains(sc, "Domain") || !strings.Contains(sc, "Path=/alice/box/jupyter/") {
		t.Fatalf("app cookies: %s", sc)
	}
	// Without the trailing slash, sent to it.
	if code, _, h := get(t, c, strings.TrimSuffix(base, "/")+"?a=b"); code != http.StatusMovedPermanently || h.Get("Location") != "/alice/box/jupyter/?a=b" {
		t.Fatalf("no slash: %d %q", code, h.Get("Location"))
	}
	if r.res.uses == 0 {
		t.Fatal("requests did not count as use")
	}
}

// Another user's app is 404 for alice, by every spelling, and so is an
// app of hers that does not exist.
func TestOwnerOnlyPathMode(t *testing.T) {
	r := newRig(t, "")
	c := r.client()
	r.signIn(c, "alice", "alice", "box", "jupyter")
	front := r.front.URL
	for _, p := range []string{"/bob/box/jupyter/", "/Bob/box/jupyter/", "/alice/../bob/box/jupyter/", "/alice/box/jupyter%2f",
		"/alice%2fbox/jupyter/", "//alice/box/jupyter/", "/alice//box/jupyter/", "/alice/./box/jupyter/",
		"/ａlice/box/jupyter/", "/alice/Box/jupyter/", "/alice/box/JUPYTER/", "/alice/box/other/", "/alice/box/", "/"} {
		raw := front + p
		req, _ := http.NewRequest("GET", raw, nil)
		req.URL.Opaque = "" // keep the spelling as sent
		if u, err := url.Parse(raw); err == nil {
			req.URL = u
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
	// Bob signed in, an admin too: alice's app is not theirs.
	for _, who := range []string{"bob", "admin"} {
		bc := r.client()
		r.signIn(bc, who, who, "box", "jupyter")
		if code, _, _ := get(t, bc, front+"/alice/box/jupyter/"); code != http.StatusNotFound {
			t.Errorf("%s reached alice's app: %d", who, code)
		}
	}
}
