package apps

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Domain mode: each app on its own origin; the user part must be the
// signed-in user's, whatever the Host header says.
func TestDomainMode(t *testing.T) {
	r := newRig(t, "apps.gw.test")
	c := r.client()
	base := r.s.URL("alice", "Box", "jupyter")
	if !strings.HasPrefix(base, "http://jupyter--box--alice.apps.gw.test:") {
		t.Fatalf("url: %s", base)
	}
	if code, _, h := get(t, c, base+"lab", "Accept", "text/html"); code != http.StatusSeeOther ||
		!strings.HasPrefix(h.Get("Location"), "http://gw.test/apps/alice/box/jupyter/?next=%2Flab") {
		t.Fatalf("unsigned: %d %q", code, h.Get("Location"))
	}
	r.signIn(c, "alice", "alice", "box", "jupyter")
	if code, body, _ := get(t, c, base+"lab"); code != 200 || body != "app at /lab" {
		t.Fatalf("own app: %d %q", code, body)
	}
	// The cookie is the app origin's alone: another app's host has none.
	other := strings.Replace(base, "jupyter--box--alice", "jupyter--box--bob", 1)
	if code, _, _ := get(t, c, other); code != http.StatusUnauthorized {
		t.Fatalf("bob's origin with alice's jar: %d", code)
	}
	// Host headers naming another user's app, with alice's cookie.
	ck := c.Jar.Cookies(mustURL(base))
	if len(ck) != 1 {
		t.Fatalf("cookies: %v", ck)
	}
	for _, host := range []string{"jupyter--box--bob.apps.gw.test", "jupyter--box--alice--bob.apps.gw.test", "JUPYTER--BOX--BOB.apps.gw.test",
		"jupyter--box--alice.apps.gw.test.evil", "x.jupyter--box--alice.apps.gw.test", "jupyter--box--alicex.apps.gw.test", "apps.gw.test",
		"jupyter----alice.apps.gw.test", "--box--alice.apps.gw.test"} {
		req, _ := http.NewRequest("GET", base, nil)
		req.Host = host
		req.AddCookie(ck[0])
		resp, err := r.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("Host %s: %d, want 404", host, resp.StatusCode)
		}
	}
	// Upper case in the host is the same app (host names fold).
	req, _ := http.NewRequest("GET", base, nil)
	req.Host = "JUPYTER--BOX--ALICE.APPS.GW.TEST"
	req.AddCookie(ck[0])
	if resp, err := r.client().Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("upper-case host: %v %v", resp, err)
	}
	// A token minted for one origin does not land on another.
	to, _ := r.s.Mint(context.Background(), "alice", "gw-alice", "alice", "box", "jupyter", "")
	to = strings.Replace(to, "jupyter--box--alice", "other--box--alice", 1)
	if resp, _ := r.client().Get(to); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("token on another origin: %d", resp.StatusCode)
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

// WebSockets and server-sent events pass; a slow app is 504, a stopped
// container or a dead port 502, an upload over the limit 413, and one
// user's requests under way are bounded.
func TestProxyCarries(t *testing.T) {
	r := newRig(t, "")
	c := r.client()
	r.signIn(c, "alice", "alice", "box", "jupyter")
	base := r.s.URL("alice", "box", "jupyter")
	ck := c.Jar.Cookies(mustURL(base))

	ws, resp, err := websocket.DefaultDialer.Dial(strings.Replace(base, "http", "ws", 1)+"ws", http.Header{"Cookie": {ck[0].String()}})
	if err != nil {
		t.Fatalf("websocket: %v %v", err, resp)
	}
	for i := 0; i < 3; i++ {
		ws.WriteMessage(websocket.TextMessage, []byte("ping"))
		if _, b, err := ws.ReadMessage(); err != nil || string(b) != "ping" {
			t.Fatalf("echo: %q %v", b, err)
		}
	}
	ws.Close()

	req, _ := http.NewRequest("GET", base+"sse", nil)
	start := time.Now()
	sresp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(sresp.Body).ReadString('\n')
	if line != "data: 0\n" || time.Since(start) > 90*time.Millisecond {
		t.Fatalf("first event %q after %v: not streamed", line, time.Since(start))
	}
	sresp.Body.Close()

	if code, _, _ := get(t, c, base+"slow"); code != http.StatusGatewayTimeout {
		t.Fatalf("slow app: %d", code)
	}
	up, _ := http.NewRequest("POST", base+"upload", strings.NewReader(strings.Repeat("x", 2<<20)))
	if resp, err := c.Do(up); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("big upload: %v %v", resp, err)
	}
	up, _ = http.NewRequest("POST", base+"upload", strings.NewReader(strings.Repeat("x", 1000)))
	if resp, err := c.Do(up); err != nil || resp.StatusCode != 200 {
		t.Fatalf("upload: %v %v", resp, err)
	}

	r.res.mu.Lock()
	r.res.down["alice/box/jupyter"] = true
	r.res.mu.Unlock()
	r.s.Forget("alice", "box")
	if code, body, _ := get(t, c, base); code != http.StatusBadGateway || !strings.Contains(body, "not running") {
		t.Fatalf("stopped: %d %q", code, body)
	}
	r.res.mu.Lock()
	r.res.down = map[string]bool{}
	r.res.apps["alice/box/jupyter"] = "127.0.0.1:1"
	r.res.mu.Unlock()
	r.s.Forget("alice", "")
	if code, _, _ := get(t, c, base); code != http.StatusBadGateway {
		t.Fatalf("dead port: %d", code)
	}
}

func TestPerUserBound(t *testing.T) {
	r := newRig(t, "", func(o *Options) { o.Timeout = 10 * time.Second; o.PerUser = 2 })
	c := r.client()
	r.signIn(c, "alice", "alice", "box", "jupyter")
	base := r.s.URL("alice", "box", "jupyter")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"slow", nil)
		go c.Do(req)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r.s.mu.Lock()
		n := r.s.inflight["alice"]
		r.s.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slow requests under way: %d", n)
		}
	}
	if code, _, _ := get(t, c, base); code != http.StatusTooManyRequests {
		t.Fatalf("no bound: %d", code)
	}
	// Bob is not held up by alice.
	bc := r.client()
	r.signIn(bc, "bob", "bob", "box", "jupyter")
	if code, _, _ := get(t, bc, r.s.URL("bob", "box", "jupyter")); code != 200 {
		t.Fatalf("bob: %d", code)
	}
}

// Signing out of the gateway (or a disabled account) ends the app
// cookie at its next check; each app session leaves one audit row.
func TestSessionEndsWithGateway(t *testing.T) {
	r := newRig(t, "")
	c := r.client()
	r.signIn(c, "alice", "alice", "box", "jupyter")
	base := r.s.URL("alice", "box", "jupyter")
	for i := 0; i < 3; i++ {
		if code, _, _ := get(t, c, base+"x?secret=1"); code != 200 {
			t.Fatal(code)
		}
	}
	r.sess.mu.Lock()
	delete(r.sess.users, "gw-alice")
	r.sess.mu.Unlock()
	r.s.mu.Lock()
	for _, se := range r.s.sessions {
		se.checked = time.Time{}
	}
	r.s.mu.Unlock()
	if code, _, _ := get(t, c, base); code != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %d", code)
	}
	r.s.stats.flush(time.Time{})
	r.audit.mu.Lock()
	defer r.audit.mu.Unlock()
	if len(r.audit.events) != 1 || !strings.Contains(r.audit.events[0].Detail, "app jupyter of box: 3 requests") ||
		strings.Contains(r.audit.events[0].Detail, "secret") {
		t.Fatalf("audit: %+v", r.audit.events)
	}
}
