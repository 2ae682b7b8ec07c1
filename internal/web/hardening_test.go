package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/web"
)

// rows returns the audit rows of the web listener (kinds web and api),
// newest first.
func (l *lab) rows() []audit.Entry {
	l.t.Helper()
	rows, err := l.al.Query(context.Background(), audit.Filter{})
	if err != nil {
		l.t.Fatal(err)
	}
	var out []audit.Entry
	for _, r := range rows {
		if r.Kind == "web" || r.Kind == "api" {
			out = append(out, r)
		}
	}
	return out
}

// Scenario: anyone fills the disk through the audit table: 1,000
// requests without credentials, and for the stylesheet, wrote 1,000 rows
// of up to 8 KiB. Now they are sampled per address and minute, with the
// count carried in the next row; requests with valid credentials are all
// recorded.
func TestWebAuditSamplesRequestsWithoutCredentials(t *testing.T) {
	l := newLab(t)
	long := "/api/v1/" + strings.Repeat("x", 7000)
	for i := range 1000 {
		switch i % 3 {
		case 0:
			l.do("GET", "/static/style.css", "", "")
		case 1:
			l.do("GET", "/api/v1/me", "", "")
		default:
			l.do("GET", long, "lxg_nope", "")
		}
	}
	rows := l.rows()
	size := 0
	for _, r := range rows {
		size += len(r.Detail) + len(r.Remote) + len(r.User) + len(r.Method)
	}
	if len(rows) > 40 || size > 64<<10 {
		t.Fatalf("1,000 requests without credentials wrote %d rows, %d bytes", len(rows), size)
	}
	l.advance(time.Minute) // the bad tokens locked the address out
	tok := l.token("alice")
	for range 30 {
		l.want("GET", "/api/v1/me", tok, "", 200, "alice")
	}
	if n := len(l.rows()) - len(rows); n != 30 {
		t.Fatalf("30 requests with a token wrote %d rows", n)
	}
	l.advance(10 * time.Minute)
	l.do("GET", "/api/v1/me", "", "")
	if d := l.rows()[0].Detail; !strings.Contains(d, "more requests without credentials") {
		t.Fatalf("the row after the flood does not count it: %q", d)
	}
}

// doFrom is do with extra request headers (X-Forwarded-For, Origin).
func (l *lab) doFrom(method, path, token string, hdr map[string]string) (int, string) {
	l.t.Helper()
	return l.send(method, path, token, "", hdr)
}

func xff(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }

// behindProxy trusts the test's loopback peer as a reverse proxy.
func behindProxy(o *web.Options) {
	o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Scenario: behind the reverse proxy the README recommends, every client
// had the proxy's address: one client's twenty bad tokens made every good
// token answer 429, and ten GET /signin blocked every browser's sign-in.
// With the proxy trusted, each limit keys on the client's own address.
func TestWebBehindProxyLimitsPerClient(t *testing.T) {
	l := newLab(t, behindProxy)
	const mallory, alice = "198.51.100.1", "203.0.113.9"
	tok := l.token("alice")
	for range 20 {
		l.doFrom("GET", "/api/v1/me", "lxg_nope", xff(mallory))
	}
	if code, out := l.doFrom("GET", "/api/v1/me", tok, xff(mallory)); code != 429 {
		t.Fatalf("the flooding client: %d %s, want 429", code, out)
	}
	if code, out := l.doFrom("GET", "/api/v1/me", tok, xff(alice)); code != 200 || !strings.Contains(out, `"remote": "`+alice+`"`) {
		t.Fatalf("another client's good token: %d %s, want 200 from %s", code, out, alice)
	}
	// The client cannot pick its address: the proxy appends the real one.
	if code, _ := l.doFrom("GET", "/api/v1/me", tok, xff(alice+", "+mallory)); code != 429 {
		t.Fatalf("a forged left-hand X-Forwarded-For escaped the limit: %d", code)
	}
	// A chain of trusted proxies: the right-most untrusted address counts.
	if code, _ := l.doFrom("GET", "/api/v1/me", tok, xff(mallory+", 127.0.0.5")); code != 429 {
		t.Fatalf("through two proxies: %d", code)
	}
	for range 10 {
		l.doFrom("GET", "/signin?t=lxgl_nope", "", xff(mallory))
	}
	if code, _ := l.doFrom("GET", "/signin?t=lxgl_nope", "", xff(mallory)); code != 429 {
		t.Fatalf("sign-ins of the flooding client: %d, want 429", code)
	}
	if code, out := l.doFrom("GET", "/signin?t=lxgl_nope", "", xff(alice)); code != 401 {
		t.Fatalf("another client's sign-in: %d %q, want 401 (bad link, not limited)", code, out)
	}
	if r := l.rows()[0]; r.Remote != alice {
		t.Fatalf("audited remote %q, want the client %s", r.Remote, alice)
	}
}

// Without trusted proxies, X-Forwarded-For is anyone's to write and is
// ignored: a client cannot escape its limit by rotating the header.
func TestWebForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	l := newLab(t)
	tok := l.token("alice")
	for i := range 20 {
		l.doFrom("GET", "/api/v1/me", "lxg_nope", xff(fmt.Sprintf("198.51.100.%d", i)))
	}
	if code, _ := l.doFrom("GET", "/api/v1/me", tok, xff("203.0.113.9")); code != 429 {
		t.Fatalf("X-Forwarded-For from an untrusted peer was honoured: %d", code)
	}
}

// Scenario: 'DELETE ...?force=false' deleted a running container, as did
// any non-empty value ('?all=' too); '{"memory": -1}' answered 409 as if
// the state were wrong. Booleans in the query are true, false, 1 or 0,
// sizes are positive: anything else is a malformed request (400).
func TestWebStrictQueryAndSizes(t *testing.T) {
	l := newLab(t)
	tok, root := l.token("alice"), l.token("root1")
	l.want("POST", "/api/v1/containers", tok, `{"name":"dev","start":true}`, 201, "")
	for _, v := range []string{"false", "0"} {
		l.want("DELETE", "/api/v1/containers/dev?force="+v, tok, "", 409, "running")
	}
	for _, v := range []string{"", "no", "yes", "FALSE%20", "2", "false&force=true"} {
		l.want("DELETE", "/api/v1/containers/dev?force="+v, tok, "", 400, "force")
	}
	l.want("GET", "/api/v1/containers/dev", tok, "", 200, `"state": "running"`)
	l.want("GET", "/api/v1/containers?all=", root, "", 400, "all")
	l.want("GET", "/api/v1/containers?all=0", tok, "", 200, `"dev"`)
	l.want("GET", "/api/v1/containers?all=false", tok, "", 200, `"dev"`)
	l.want("GET", "/api/v1/containers?all=true", root, "", 200, `"owner": "alice"`)
	for _, body := range []string{`{"name":"x","memory":-1}`, `{"name":"x","memory":0}`, `{"name":"x","disk":"0GiB"}`,
		`{"name":"x","disk":-5}`, `{"name":"x","cpu":-1}`, `{"name":"x","cpu":0}`} {
		l.want("POST", "/api/v1/containers", tok, body, 400, "")
	}
	l.want("DELETE", "/api/v1/containers/dev?force=true", tok, "", 204, "")
}

// Scenario: login CSRF. A cross-site page posts the attacker's own
// sign-in link to POST /signin from the victim's browser, which then
// works as the attacker. Browsers name the posting page's origin (Origin)
// and site (Sec-Fetch-Site); a cross-site one is refused before the link
// is spent.
func TestWebSignInRefusesCrossSite(t *testing.T) {
	l := newLab(t, func(o *web.Options) { o.PublicURL = "https://gw.lab.example" })
	secret := l.link("alice")
	resp, _ := l.browser().send(mustRequest(t, "GET", l.url+"/signin?t="+secret))
	if got := resp.Header.Get("Referrer-Policy"); got != "same-origin" {
		t.Fatalf("the sign-in page's Referrer-Policy %q: its form's post would say Origin: null", got)
	}
	for _, hdr := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Origin": "null"},
		{"Origin": "https://gw.lab.example.evil.example"},
		{"Origin": "http://localhost:1"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "cross-site", "Origin": l.url},
		{"Sec-Fetch-Site": "same-site"}, // a sibling host of the lab's domain is not this site
	} {
		resp, body := l.browser().post("/signin", url.Values{"t": {secret}}, hdr, "")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("POST /signin with %v: %d %q, want 403 and no cookie", hdr, resp.StatusCode, body)
		}
	}
	// The refusals spent nothing; same-origin posts (and clients that send
	// neither header) sign in.
	for i, hdr := range []map[string]string{
		{"Origin": l.url, "Sec-Fetch-Site": "same-origin"},
		{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, // what a no-referrer page's own post may say
		{"Origin": l.url},
		{"Origin": "https://gw.lab.example"}, // through the proxy at public_url
		nil,
	} {
		if i > 0 {
			secret = l.link("alice")
		}
		if resp, body := l.browser().post("/signin", url.Values{"t": {secret}}, hdr, ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /signin with %v: %d %q, want 303", hdr, resp.StatusCode, body)
		}
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
