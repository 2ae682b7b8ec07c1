package web_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/testlog"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/web"
	"github.com/lxcgate/lxcgate/internal/webauth"
)

// lab is a web listener on a real service with a fake LXD, three users
// and one GPU.
type lab struct {
	t     *testing.T
	url   string
	cs    *containers.Service
	us    *users.Store
	auth  *webauth.Auth
	log   *testlog.Buffer
	fake  *lxdtest.Fake
	db    *sql.DB
	al    *audit.Log // the audit trail, on the lab's database
	clock time.Time
	mu    sync.Mutex
}

func (l *lab) now() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clock
}

func (l *lab) advance(d time.Duration) {
	l.mu.Lock()
	l.clock = l.clock.Add(d)
	l.mu.Unlock()
}

// newLab builds the lab; each opt may change the server's options.
func newLab(t *testing.T, opts ...func(*web.Options)) *lab {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	l := &lab{t: t, us: users.New(db), log: &testlog.Buffer{}, fake: lxdtest.New(), db: db, clock: time.Now()}
	for n, role := range map[string]users.Role{"alice": users.RoleUser, "bob": users.RoleUser, "root1": users.RoleAdmin} {
		if _, err := l.us.Add(ctx, n, role, ""); err != nil {
			t.Fatal(err)
		}
	}
	l.fake.HostGPUs = []lxd.GPU{{ID: "0", Vendor: "NVIDIA", Model: "A100", PCI: "0000:01:00.0"}}
	log := slog.New(slog.NewTextHandler(l.log, nil))
	l.cs = containers.New(db, l.fake, containers.Config{
		DefaultImage: "lxcgate-busybox", CPU: 1, Memory: 256 << 20, Disk: 1 << 30, Prefix: "lxcgate-",
		GPU: lxd.GPUProfile{Name: "lxcgate-nvidia"}, Quota: containers.Quota{Containers: 2, CPU: 4, Memory: 1 << 30, Disk: 10 << 30, GPUs: 1, Ports: 2, Snapshots: 3, Volumes: 2},
		Services: map[string]int{"ssh": 22}, PortFirst: 42000, PortLast: 42999,
		VolumePool: "default", VolumeDefaultSize: 1 << 30, VolumeMaxSize: 4 << 30,
		Datasets: map[string]containers.Dataset{"imagenet": {Source: t.TempDir(), Path: "/data/imagenet"}},
	}, log)
	if err := l.cs.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	l.auth = webauth.New(db, "http://gw.test")
	l.auth.SetClock(l.now)
	l.al = audit.New(db, log)
	o := web.Options{Service: l.cs, Users: l.us, Auth: l.auth, Audit: l.al, Log: log,
		Host: "gpu1", Public: "gpu1.example.org", Now: l.now}
	for _, opt := range opts {
		opt(&o)
	}
	ts := httptest.NewServer(web.New(o))
	t.Cleanup(ts.Close)
	l.url = ts.URL
	return l
}

func (l *lab) token(user string) string {
	l.t.Helper()
	_, secret, err := l.auth.CreateToken(context.Background(), user, "", 0)
	if err != nil {
		l.t.Fatal(err)
	}
	return secret
}

// do sends a request with a bearer token (none when empty) and returns
// the status and body.
func (l *lab) do(method, path, token, body string) (int, string) {
	l.t.Helper()
	var hdr map[string]string
	if body != "" {
		hdr = map[string]string{"Content-Type": "application/json"}
	}
	return l.send(method, path, token, body, hdr)
}

// send sends a request with a bearer token (none when empty), a body and
// headers, and returns the status and body of the reply.
func (l *lab) send(method, path, token, body string, hdr map[string]string) (int, string) {
	l.t.Helper()
	req, err := http.NewRequest(method, l.url+path, strings.NewReader(body))
	if err != nil {
		l.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (l *lab) want(method, path, token, body string, status int, contains string) string {
	l.t.Helper()
	got, out := l.do(method, path, token, body)
	if got != status || !strings.Contains(out, contains) {
		l.t.Fatalf("%s %s: %d %q, want %d with %q", method, path, got, out, status, contains)
	}
	return out
}

// shellJSON runs a command line as user in the real shell on the same
// service and returns its stdout.
func (l *lab) shellJSON(user users.User, line string) string {
	l.t.Helper()
	sh := shell.New(shell.Options{Auth: nil, Audit: audit.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil))),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Host: "gpu1", Services: l.cs, Public: "gpu1.example.org"})
	var out, errw bytes.Buffer
	if code := sh.Run(context.Background(), shell.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errw}, user, false, line, true); code != 0 {
		l.t.Fatalf("%s: %d %s", line, code, errw.String())
	}
	return out.String()
}

func sameJSON(t *testing.T, what, a, b string) {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v in %q", what, err, a)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v in %q", what, err, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	if !bytes.Equal(xa, ya) {
		t.Fatalf("%s differs:\napi   %s\nshell %s", what, xa, ya)
	}
}

func TestWebAPIMatchesShellJSON(t *testing.T) {
	l := newLab(t)
	alice := users.User{Name: "alice", Role: users.RoleUser}
	tok := l.token("alice")
	l.want("POST", "/api/v1/containers", tok, `{"name":"dev","memory":"512MiB","gpu":"all","start":true}`, 201, `"name": "dev"`)
	l.want("POST", "/api/v1/containers/dev/snapshot", tok, `{"name":"s1","keep":true}`, 201, `"name": "s1"`)
	for _, tc := range []struct{ path, line string }{
		{"/api/v1/containers", "list --json"},
		{"/api/v1/containers/dev", "details dev --json"},
		{"/api/v1/gpus", "gpus --json"},
		{"/api/v1/quota", "quota --json"},
		{"/api/v1/containers/dev/snapshots", "snapshots dev --json"},
	} {
		api := l.want("GET", tc.path, tok, "", 200, "")
		sameJSON(t, tc.path, api, l.shellJSON(alice, tc.line))
	}
	// bob sees that the GPU is taken, not by whom; the admin sees who.
	l.want("GET", "/api/v1/gpus", l.token("bob"), "", 200, `"(another user)"`)
	l.want("GET", "/api/v1/gpus", l.token("root1"), "", 200, `"alice/dev"`)
	l.want("GET", "/api/v1/me", tok, "", 200, `"method": "token"`)
	l.want("GET", "/api/v1/containers?all=1", tok, "", 403, "admins")
	l.want("GET", "/api/v1/containers?all=1", l.token("root1"), "", 200, `"owner": "alice"`)
	l.want("POST", "/api/v1/containers/dev/stop", tok, `{"force":true}`, 200, `"state": "stopped"`)
	l.want("POST", "/api/v1/containers/dev/start", tok, "", 200, `"state": "running"`)
	l.want("POST", "/api/v1/containers/dev/restart", tok, "", 200, `"name": "dev"`)
	l.want("POST", "/api/v1/containers/dev/restore", tok, `{"snapshot":"s1"}`, 200, `"name": "dev"`)
	l.want("POST", "/api/v1/containers/dev/restore", tok, `{}`, 400, "snapshot")
	l.want("POST", "/api/v1/containers/dev/restore", tok, `{"snapshot":"nope"}`, 404, "")
	l.want("POST", "/api/v1/containers/dev/explode", tok, "", 404, "no such action")
	l.want("POST", "/api/v1/containers", tok, `{"name":"big","cpu":99}`, 403, "quota")
	l.want("POST", "/api/v1/containers", tok, `{"name":"dev"}`, 409, "already have")
	l.want("POST", "/api/v1/containers", tok, `{"name":"my_box"}`, 400, "not allowed")
	l.want("POST", "/api/v1/containers", tok, `{"name":"x","colour":"red"}`, 400, "unknown field")
	l.want("DELETE", "/api/v1/containers/dev", tok, "", 409, "running")
	l.want("DELETE", "/api/v1/containers/dev?force=1", tok, "", 204, "")
	l.want("GET", "/api/v1/containers/dev", tok, "", 404, "no such container")
	l.want("GET", "/api/v1/openapi.json", "", "", 200, `"openapi": "3.0.3"`)
}

func TestWebTenancy(t *testing.T) {
	l := newLab(t)
	l.want("POST", "/api/v1/containers", l.token("alice"), `{"name":"dev"}`, 201, "")
	bob := l.token("bob")
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/v1/containers/dev", ""},
		{"GET", "/api/v1/containers/dev/snapshots", ""},
		{"DELETE", "/api/v1/containers/dev?force=1", ""},
		{"POST", "/api/v1/containers/dev/start", ""},
		{"POST", "/api/v1/containers/dev/stop", `{"force":true}`},
		{"POST", "/api/v1/containers/dev/restart", ""},
		{"POST", "/api/v1/containers/dev/snapshot", ""},
		{"POST", "/api/v1/containers/dev/restore", `{"snapshot":"s"}`},
		{"GET", "/api/v1/containers/..%2falice%2fdev", ""},
		{"GET", "/api/v1/containers/%2e%2e", ""},
		{"GET", "/api/v1/containers/alice/dev", ""},
		{"GET", "/containers/dev", ""},
	} {
		status, out := l.do(r.method, r.path, bob, r.body)
		if status != 404 || strings.Contains(out, "alice") && !strings.Contains(r.path, "alice") {
			t.Errorf("bob %s %s: %d %q, want 404", r.method, r.path, status, out)
		}
	}
	if _, out := l.do("GET", "/api/v1/containers", bob, ""); strings.Contains(out, "dev") {
		t.Fatalf("bob lists alice's container: %s", out)
	}
}

func TestWebBadCredentials(t *testing.T) {
	l := newLab(t)
	tok := l.token("alice")
	l.want("GET", "/api/v1/containers", "", "", 401, "not signed in")
	l.want("GET", "/api/v1/containers", "lxg_garbage", "", 401, "invalid")
	l.want("GET", "/api/v1/containers", tok+"x", "", 401, "invalid")
	_, short, _ := l.auth.CreateToken(context.Background(), "alice", "short", time.Hour)
	l.want("GET", "/api/v1/me", short, "", 200, "alice")
	l.advance(2 * time.Hour)
	l.want("GET", "/api/v1/me", short, "", 401, "invalid")
	if _, err := l.auth.RevokeTokens(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	l.want("GET", "/api/v1/me", tok, "", 401, "invalid")
	// Failed tokens from one address are limited; a good one then waits too.
	good := l.token("bob")
	for range 20 {
		l.do("GET", "/api/v1/me", "lxg_nope", "")
	}
	l.want("GET", "/api/v1/me", good, "", 429, "too many")
	l.advance(time.Minute)
	l.want("GET", "/api/v1/me", good, "", 200, "bob")
	if strings.Contains(l.log.String(), tok) || strings.Contains(l.log.String(), good) {
		t.Fatal("a token reached the log")
	}
	// One user's runaway script is limited, not the others'.
	for range 600 {
		l.do("GET", "/api/v1/me", good, "")
	}
	l.want("GET", "/api/v1/me", good, "", 429, "slow down")
	l.want("GET", "/api/v1/me", l.token("alice"), "", 200, "alice")
}

func TestWebDisabledUser(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	tok := l.token("alice")
	c := l.signIn("alice")
	c.want("GET", "/", 200, "Your containers")
	if err := l.us.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	c.want("GET", "/", 401, "may not sign in")
	l.want("GET", "/api/v1/me", tok, "", 401, "may not sign in")
	if err := l.us.SetDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	l.want("GET", "/api/v1/me", tok, "", 200, "alice")
	c.want("GET", "/", 401, "") // the session ended for good
}

func TestWebBodyLimit(t *testing.T) {
	l := newLab(t)
	tok := l.token("alice")
	big := `{"name":"` + strings.Repeat("a", 70<<10) + `"}`
	l.want("POST", "/api/v1/containers", tok, big, 413, "64 KiB")
	l.want("POST", "/api/v1/containers/dev/stop", tok, big, 413, "64 KiB")
}

func TestWebSecurityHeaders(t *testing.T) {
	l := newLab(t)
	for _, path := range []string{"/", "/api/v1/me", "/static/style.css", "/signin?t=x"} {
		resp, err := http.Get(l.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	l *lab
	c *http.Client
}

func (l *lab) browser() *browser {
	jar := &jar{}
	return &browser{l: l, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// jar keeps cookies whatever their Secure flag (the test server is HTTP).
type jar struct {
	mu sync.Mutex
	cs []*http.Cookie
}

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 {
			j.cs = nil
			continue
		}
		j.cs = append(j.cs, c)
	}
}

func (j *jar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]*http.Cookie(nil), j.cs...)
}

func (b *browser) send(req *http.Request) (*http.Response, string) {
	b.l.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.l.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) want(method, path string, status int, contains string) string {
	b.l.t.Helper()
	req, _ := http.NewRequest(method, b.l.url+path, nil)
	resp, body := b.send(req)
	if resp.StatusCode != status || !strings.Contains(body, contains) {
		b.l.t.Fatalf("%s %s: %d %q, want %d with %q", method, path, resp.StatusCode, body, status, contains)
	}
	return body
}

func (b *browser) post(path string, form url.Values, hdr map[string]string, body string) (*http.Response, string) {
	var r io.Reader = strings.NewReader(body)
	if form != nil {
		r = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest("POST", b.l.url+path, r)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.send(req)
}

// link returns a new sign-in link's secret for user.
func (l *lab) link(user string) string {
	l.t.Helper()
	u, _, err := l.auth.SignIn(context.Background(), user)
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.TrimPrefix(u, "http://gw.test/signin?t=")
}

func (l *lab) signIn(user string) *browser {
	l.t.Helper()
	b := l.browser()
	secret := l.link(user)
	b.want("GET", "/signin?t="+secret, 200, "Continue as "+user)
	resp, body := b.post("/signin", url.Values{"t": {secret}}, nil, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		l.t.Fatalf("sign in: %d %q", resp.StatusCode, body)
	}
	return b
}
