package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var (
	webappOnce sync.Once
	webappBin  string
	webappErr  error
)

// webapp builds the tests' web app (testdata/webapp) once, static, for
// any container.
func webapp(t *testing.T) string {
	t.Helper()
	webappOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lxcgate-webapp")
		if err != nil {
			webappErr = err
			return
		}
		webappBin = filepath.Join(dir, "webapp")
		cmd := exec.Command("go", "build", "-o", webappBin, "./testdata/webapp")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			webappErr = err
			t.Logf("%s", out)
		}
	})
	if webappErr != nil {
		t.Fatalf("building the web app: %v", webappErr)
	}
	return webappBin
}

// runWebapp puts the web app in a container and starts it on port 8080,
// its own session (setsid), so that it outlives the exec.
func runWebapp(t *testing.T, project, name string) {
	t.Helper()
	lxc(t, "file", "push", webapp(t), name+"/webapp", "--project", project, "--mode", "0755")
	lxc(t, "exec", name, "--project", project, "--", "sh", "-c", "setsid /webapp -addr :8080 </dev/null >/dev/null 2>&1 &")
}

// appsGW is a web gateway with an apps listener of its own (path mode).
func appsGW(t *testing.T, env ...string) (*gw, string, string) {
	t.Helper()
	apps := "127.0.0.1:" + freePort(t)
	g, base := webGW(t, append([]string{"LXCGATE_WEB_APPS_LISTEN=" + apps, "LXCGATE_WEB_APPS_TIMEOUT=3s"}, env...)...)
	return g, base, "http://" + apps
}

// webSession signs a cookie-keeping client in with a link of 'web'.
func webSession(t *testing.T, g *gw, base, user, key string) *http.Client {
	t.Helper()
	r := g.sshKey(user, key, "", "web")
	if r.code != 0 || !strings.Contains(r.out, "/signin?t=") {
		t.Fatalf("web: %+v", r)
	}
	secret := strings.SplitN(lastLine(r), "t=", 2)[1]
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	req, _ := http.NewRequest("POST", base+"/signin", strings.NewReader(url.Values{"t": {secret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign in: %v %v", resp, err)
	}
	resp.Body.Close()
	return c
}

func fetch(t *testing.T, c *http.Client, u string, hdr ...string) (int, string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// Scenario: alice serves a web app of her container through the gateway:
// 'port add --web' gives a URL and opens no host port; her signed-in
// browser reaches it through the page's link, WebSockets and events
// included, without her gateway credentials reaching the app; bob, an
// admin and an unsigned client do not; a slow app is 504, a stopped
// container 502.
func TestAppsThroughGateway(t *testing.T) {
	g, base, appsBase := appsGW(t)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	root := g.addUser("root1", "root-password", true)
	g.start()
	project := g.prefix + "alice"
	g.must("alice", alice, "", "launch", "box")
	g.must("bob", bob, "", "launch", "box")
	runWebapp(t, project, "box")
	r := g.must("alice", alice, "", "port", "add", "box", "8080", "--web", "--name", "web")
	appURL := appsBase + "/alice/box/web/"
	if !strings.Contains(r.err, appURL) {
		t.Fatalf("port add --web: %+v", r)
	}
	if r := g.must("alice", alice, "", "ports", "box"); !strings.Contains(r.out, "web") || !strings.Contains(r.out, appURL) {
		t.Fatalf("ports: %+v", r)
	}
	if r := g.must("alice", alice, "", "details", "box"); !strings.Contains(r.out, appURL) {
		t.Fatalf("details: %+v", r)
	}
	// No host port, no DNAT rule for it.
	if out := g.natRules(); strings.Contains(out, ":8080") {
		t.Fatalf("a DNAT rule for a web app:\n%s", out)
	}

	// Unsigned: a browser is sent to sign in, a script gets 401.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	code, _, resp := fetch(t, plain, appURL+"tree", "Accept", "text/html")
	if code != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), base+"/apps/alice/box/web/") {
		t.Fatalf("unsigned browser: %d %q", code, resp.Header.Get("Location"))
	}
	if code, _, _ := fetch(t, plain, appURL); code != http.StatusUnauthorized {
		t.Fatalf("unsigned script: %d", code)
	}

	ac := webSession(t, g, base, "alice", alice)
	code, body, resp := fetch(t, ac, base+"/apps/alice/box/web/?next=/alice/box/web/there")
	if code != 200 || !strings.Contains(body, `"path":"/alice/box/web/there"`) {
		t.Fatalf("alice's app through the page's link: %d %s", code, body)
	}
	code, body, resp = fetch(t, ac, appURL+"hello", "Authorization", "Bearer not-for-the-app")
	if code != 200 {
		t.Fatalf("alice's app: %d %s", code, body)
	}
	var seen struct {
		Path   string
		Header http.Header
	}
	if err := json.Unmarshal([]byte(body), &seen); err != nil || seen.Path != "/alice/box/web/hello" {
		t.Fatalf("the app saw %q (%v)", body, err)
	}
	if seen.Header.Get("Authorization") != "" || strings.Contains(seen.Header.Get("Cookie"), "lxcgate") ||
		seen.Header.Get("X-Forwarded-For") != "127.0.0.1" || seen.Header.Get("X-Forwarded-Proto") != "http" || seen.Header.Get("X-Forwarded-Host") == "" {
		t.Fatalf("headers that reached the app: %v", seen.Header)
	}
	for _, ck := range resp.Header.Values("Set-Cookie") {
		if strings.Contains(ck, "lxcgate_session") || strings.Contains(strings.ToLower(ck), "domain=") {
			t.Fatalf("an app cookie for another origin passed: %s", ck)
		}
	}
	appCookies := ac.Jar.Cookies(mustParse(appsBase))
	var cookieHdr []string
	for _, c := range appCookies {
		cookieHdr = append(cookieHdr, c.Name+"="+c.Value)
	}
	ws, wresp, err := websocket.DefaultDialer.Dial("ws://"+strings.TrimPrefix(appURL, "http://")+"ws", http.Header{"Cookie": {strings.Join(cookieHdr, "; ")}})
	if err != nil {
		t.Fatalf("websocket: %v %v", err, wresp)
	}
	ws.WriteMessage(websocket.TextMessage, []byte("1+1"))
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "1+1" {
		t.Fatalf("websocket echo: %q %v", msg, err)
	}
	ws.Close()
	if code, body, _ := fetch(t, ac, appURL+"events"); code != 200 || strings.Count(body, "data:") != 3 {
		t.Fatalf("events: %d %q", code, body)
	}
	if code, _, _ := fetch(t, ac, appURL+"slow"); code != http.StatusGatewayTimeout {
		t.Fatalf("a slow app: %d, want 504", code)
	}

	// bob and the admin, signed in: alice's app is no app of theirs, by
	// any spelling.
	for _, who := range []struct{ name, key string }{{"bob", bob}, {"root1", root}} {
		c := webSession(t, g, base, who.name, who.key)
		if code, _, _ := fetch(t, c, base+"/apps/alice/box/web/"); code != http.StatusNotFound {
			t.Errorf("%s opening alice's app: %d", who.name, code)
		}
	}
	bc := webSession(t, g, base, "bob", bob)
	g.must("bob", bob, "", "port", "add", "box", "8080", "--web", "--name", "web")
	fetch(t, bc, base+"/apps/bob/box/web/") // bob's own app origin cookie (his app does not answer: 502)
	for _, p := range []string{"/alice/box/web/", "/Alice/box/web/", "/bob/../alice/box/web/", "/alice%2fbox/web/", "//alice/box/web/", "/alice/box/web%2f"} {
		u, _ := url.Parse(appsBase + p)
		req := &http.Request{Method: "GET", URL: u, Header: http.Header{}}
		resp, err := bc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob at %s: %d", p, resp.StatusCode)
		}
	}

	// Stopped: the app says what to do.
	g.must("alice", alice, "", "stop", "box", "--force")
	time.Sleep(3500 * time.Millisecond) // past the resolved address's few seconds
	if code, body, _ := fetch(t, ac, appURL); code != http.StatusBadGateway || !strings.Contains(body, "start box") {
		t.Fatalf("stopped: %d %q", code, body)
	}
	// Withdrawn: gone.
	g.must("alice", alice, "", "port", "del", "box", "web")
	time.Sleep(3500 * time.Millisecond)
	if code, _, _ := fetch(t, ac, appURL); code != http.StatusNotFound {
		t.Fatalf("withdrawn: %d", code)
	}
}

func mustParse(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

// Scenario: with web.apps_domain, each app is on its own origin served by
// the web listener: alice's browser signs in to hers through the page's
// link; bob's cookie, valid on his own app's origin, sent with a Host
// header naming alice's app, is 404; the gateway's own page is
// untouched.
func TestAppsOnTheirOwnOrigins(t *testing.T) {
	g, base := webGW(t, "LXCGATE_WEB_APPS_DOMAIN=apps.test", "LXCGATE_WEB_APPS_TIMEOUT=3s")
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	for _, u := range []struct{ name, key string }{{"alice", alice}, {"bob", bob}} {
		g.must(u.name, u.key, "", "launch", "box")
		runWebapp(t, g.prefix+u.name, "box")
		r := g.must(u.name, u.key, "", "port", "add", "box", "8080", "--web", "--name", "web")
		if want := "http://web--box--" + u.name + ".apps.test:" + strings.TrimPrefix(base, "http://127.0.0.1:") + "/"; !strings.Contains(r.err, want) {
			t.Fatalf("port add --web: %+v, want %s", r, want)
		}
	}
	// Every host name reaches the gateway's listener, as a wildcard DNS
	// name would.
	toGateway := func(c *http.Client) {
		addr := strings.TrimPrefix(base, "http://")
		c.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	}
	ac := webSession(t, g, base, "alice", alice)
	toGateway(ac)
	appURL := strings.Replace(base, "127.0.0.1", "web--box--alice.apps.test", 1) + "/"
	code, body, _ := fetch(t, ac, base+"/apps/alice/box/web/?next=/deep/path")
	if code != 200 || !strings.Contains(body, `"path":"/deep/path"`) || !strings.Contains(body, `"host":"web--box--alice.apps.test`) {
		t.Fatalf("alice's app on its origin: %d %s", code, body)
	}
	if c := ac.Jar.Cookies(mustParse(appURL)); len(c) == 0 {
		t.Fatal("no cookie on the app's origin")
	}
	bc := webSession(t, g, base, "bob", bob)
	toGateway(bc)
	fetch(t, bc, base+"/apps/bob/box/web/")
	bobURL := strings.Replace(appURL, "--alice.", "--bob.", 1)
	var bobCookie string
	for _, c := range bc.Jar.Cookies(mustParse(bobURL)) {
		if c.Name == "lxcgate_app" {
			bobCookie = c.Name + "=" + c.Value
		}
	}
	if bobCookie == "" {
		t.Fatal("bob has no app cookie")
	}
	plain := &http.Client{}
	toGateway(plain)
	for _, host := range []string{"web--box--alice.apps.test", "WEB--BOX--ALICE.apps.test", "web--box--bob--alice.apps.test", "web--box--alice.apps.test.evil"} {
		req, _ := http.NewRequest("GET", bobURL, nil)
		req.Host = host
		req.Header.Set("Cookie", bobCookie)
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && !(strings.HasSuffix(host, ".evil") && resp.StatusCode != 200) {
			t.Errorf("bob's cookie with Host %s: %d", host, resp.StatusCode)
		}
	}
	// The page itself is the gateway's, with its own headers.
	if _, _, resp := fetch(t, ac, base+"/"); !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("the gateway page lost its headers: %v", resp.Header)
	}
}
