package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/testcert"

	"github.com/chromedp/chromedp"
)

// Scenario: the web certificate is renewed and the admin runs 'systemctl
// reload' (SIGHUP): the gateway kept serving the old certificate until a
// restart. Now new connections get the new one; a broken new pair is
// logged and the old one stays. Every HTTPS answer carries HSTS.
func TestWebTLSCertReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.New(t, "lxcgate e2e", testcert.Options{Serial: 1}).Write(t, cert, key)
	addr := "127.0.0.1:" + freePort(t)
	g, _ := labGW(t, "LXCGATE_WEB_LISTEN="+addr, "LXCGATE_WEB_TLS_CERT="+cert, "LXCGATE_WEB_TLS_KEY="+key)
	g.start()
	base := "https://" + addr
	waitFor(t, "the web listener", 10*time.Second, func() bool { return strings.Contains(g.logs(), "web listening") })
	if serial, hsts := tlsServed(t, base); serial != 1 || !strings.HasPrefix(hsts, "max-age=") {
		t.Fatalf("at start: serial %d, HSTS %q", serial, hsts)
	}
	testcert.New(t, "lxcgate e2e", testcert.Options{Serial: 2}).Write(t, cert, key)
	g.signal(syscall.SIGHUP)
	waitFor(t, "the new certificate", 10*time.Second, func() bool { s, _ := tlsServed(t, base); return s == 2 })
	os.WriteFile(key, []byte("-----BEGIN EC PRIVATE KEY-----\nbroken\n-----END EC PRIVATE KEY-----\n"), 0o600)
	g.signal(syscall.SIGHUP)
	waitFor(t, "the refused certificate's log line", 10*time.Second, func() bool {
		return strings.Contains(g.logs(), "the web TLS certificate was not replaced")
	})
	if serial, _ := tlsServed(t, base); serial != 2 {
		t.Fatalf("after a broken pair: serial %d, want the old 2", serial)
	}
}

// Scenario: behind a reverse proxy on the same host (trusted_proxies =
// 127.0.0.1), one client sends bad tokens and floods the listener with
// requests whose paths hold terminal escapes. Another client's good token
// still works; the flood costs a few audit rows, not one per request; and
// the admin's 'audit' over real OpenSSH shows the escapes as text, never
// as a cursor movement or a fake row.
func TestWebBehindProxyAndAuditFlood(t *testing.T) {
	g, base := webGW(t, "LXCGATE_WEB_TRUSTED_PROXIES=127.0.0.1")
	alice := g.addUser("alice", "alice-password", false)
	root := g.addUser("root1", "root-password", true)
	g.start()
	tok := lastLine(g.sshKey("alice", alice, "", "token", "create"))
	const mallory, flooder, aliceAddr = "198.51.100.1", "198.51.100.2", "203.0.113.9"
	for range 20 {
		apiFrom(t, base+"/api/v1/me", "lxg_nope", mallory)
	}
	if code, _ := apiFrom(t, base+"/api/v1/me", tok, mallory); code != 429 {
		t.Fatalf("the client sending bad tokens: %d, want 429", code)
	}
	if code, body := apiFrom(t, base+"/api/v1/me", tok, aliceAddr); code != 200 || !strings.Contains(body, aliceAddr) {
		t.Fatalf("another client's good token: %d %s", code, body)
	}
	spoof := "/api/%1b[1A%1b[2K%1b[31mSPOOFED%0a2026-01-01%2000:00%20login%20root1%e2%80%a8"
	for i := range 300 {
		path := "/static/style.css"
		if i%2 == 0 {
			path = spoof
		}
		apiFrom(t, base+path, "", flooder)
	}
	out := g.sshKey("root1", root, "", "audit", "--limit", "1000").out
	if n := strings.Count(out, flooder); n > 15 {
		t.Fatalf("300 requests without credentials wrote %d audit rows", n)
	}
	if !strings.Contains(out, `\x1b[1A\x1b[2K\x1b[31mSPOOFED\n2026-01-01 00:00 login root1\u2028`) {
		t.Fatalf("the escaped path is not in the audit:\n%s", out)
	}
	for _, c := range []string{"\x1b", "\r", "\u2028"} {
		if strings.Contains(out, c) {
			t.Fatalf("the audit output holds %q:\n%q", c, out)
		}
	}
	if !strings.Contains(out, aliceAddr) {
		t.Fatalf("the audit does not name the client behind the proxy:\n%s", out)
	}
}

// Scenario: login CSRF in a real browser. mallory puts his own sign-in
// link in a form on a page of another site; alice's browser opens the
// page, the form posts itself to the gateway, and alice's browser would
// then work as mallory. The gateway refuses the cross-site post, so the
// browser holds no session afterwards.
func TestWebLoginCSRFInBrowser(t *testing.T) {
	chromiumPath(t)
	g, base := webGW(t)
	mallory := g.addUser("mallory", "mallory-password", false)
	g.start()
	link := lastLine(g.sshKey("mallory", mallory, "", "web"))
	secret := strings.SplitN(link, "t=", 2)[1]
	// The hostile page: another site (localhost, not 127.0.0.1), on loopback.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<html><body><form id="f" method="POST" action="%s/signin"><input name="t" value="%s"></form>
<script>document.getElementById("f").submit()</script></body></html>`, base, secret)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	ctx, done := browser(t)
	defer done()
	if err := chromedp.Do(ctx, chromedp.Navigate(evilURL)); err != nil {
		t.Fatalf("the hostile page: %v", err)
	}
	// The form posts itself: wait until the browser is on the gateway.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf("location.href.startsWith(%q)", base))); err != nil {
		t.Fatalf("the hostile page did not post: %v", err)
	}
	landed, _ := chromedp.Run(ctx, chromedp.Location())
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("body"))); err != nil {
		t.Fatalf("the gateway's page: %v", err)
	}
	page, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatalf("the gateway's page: %v", err)
	}
	if strings.Contains(page, "mallory") || !strings.Contains(page, "ssh GATEWAY web") {
		t.Fatalf("after the cross-site post (landed on %s) the browser is signed in:\n%s", landed, page)
	}
	if !strings.Contains(g.logs(), "POST /signin => 403") {
		t.Fatalf("the cross-site sign-in was not refused:\n%s", g.logs())
	}
}
