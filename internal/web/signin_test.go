package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestWebSignInLink(t *testing.T) {
	l := newLab(t)
	l.want("POST", "/api/v1/containers", l.token("alice"), `{"name":"dev","gpu":"all"}`, 201, "")
	secret := l.link("alice")
	b := l.browser()
	// Looking at the link does not spend it; posting it does, once.
	b.want("GET", "/signin?t="+secret, 200, "Continue as alice")
	b.want("GET", "/signin?t="+secret, 200, "Continue as alice")
	resp, _ := b.post("/signin", url.Values{"t": {secret}}, nil, "")
	ck := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") ||
		!strings.Contains(ck, "Max-Age=43200") {
		t.Fatalf("sign in: %d %q", resp.StatusCode, ck)
	}
	if strings.Contains(ck, secret) {
		t.Fatal("the cookie is the link")
	}
	page := b.want("GET", "/", 200, "dev")
	for _, want := range []string{`<svg class="chart"`, "<title id=\"chart-title\">GPU occupancy", "Your quota", "A100", "ssh -p 4200"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "style=") {
		t.Error("the page has a script or an inline style")
	}
	b.want("GET", "/containers/dev", 200, "Snapshots")

	again := l.browser()
	r2, body := again.post("/signin", url.Values{"t": {secret}}, nil, "")
	if r2.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "used or expired") {
		t.Fatalf("reused link: %d %q", r2.StatusCode, body)
	}
	again.want("GET", "/signin?t="+secret, 401, "used or expired")

	late := l.link("alice")
	l.advance(6 * time.Minute)
	r3, _ := again.post("/signin", url.Values{"t": {late}}, nil, "")
	if r3.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired link: %d", r3.StatusCode)
	}
	if strings.Contains(l.log.String(), secret) || strings.Contains(l.log.String(), late) {
		t.Fatal("a sign-in link reached the log")
	}
}

func TestWebCookieCSRF(t *testing.T) {
	l := newLab(t)
	b := l.signIn("alice")
	page := b.want("GET", "/", 200, "Sign out")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	create := `{"name":"dev"}`
	if resp, body := b.post("/api/v1/containers", nil, map[string]string{"Content-Type": "application/json"}, create); resp.StatusCode != 403 {
		t.Fatalf("cookie write without CSRF: %d %q", resp.StatusCode, body)
	}
	if resp, _ := b.post("/api/v1/containers", nil, map[string]string{"X-CSRF-Token": "wrong"}, create); resp.StatusCode != 403 {
		t.Fatalf("cookie write with a wrong CSRF: %d", resp.StatusCode)
	}
	if resp, body := b.post("/api/v1/containers", nil, map[string]string{"X-CSRF-Token": m[1]}, create); resp.StatusCode != 201 {
		t.Fatalf("cookie write with CSRF: %d %q", resp.StatusCode, body)
	}
	b.want("GET", "/api/v1/containers", 200, `"dev"`)
	// bob's session's token does not work for alice's.
	bob := l.signIn("bob")
	if resp, _ := bob.post("/api/v1/containers", nil, map[string]string{"X-CSRF-Token": m[1]}, `{"name":"x"}`); resp.StatusCode != 403 {
		t.Fatalf("bob with alice's CSRF: %d", resp.StatusCode)
	}
	if resp, _ := b.post("/signout", url.Values{}, nil, ""); resp.StatusCode != 403 {
		t.Fatalf("sign out without CSRF: %d", resp.StatusCode)
	}
	if resp, _ := b.post("/signout", url.Values{"csrf": {m[1]}}, nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	b.want("GET", "/", 401, "ssh GATEWAY web")
}

func TestWebAdminSeesEveryone(t *testing.T) {
	l := newLab(t)
	l.want("POST", "/api/v1/containers", l.token("alice"), `{"name":"dev"}`, 201, "")
	l.want("POST", "/api/v1/containers", l.token("bob"), `{"name":"lab"}`, 201, "")
	root := l.signIn("root1").want("GET", "/", 200, "Everyone")
	if !strings.Contains(root, "alice") || !strings.Contains(root, "lab") {
		t.Fatal("the admin's page lacks someone's containers")
	}
	bob := l.signIn("bob").want("GET", "/", 200, "lab")
	if strings.Contains(bob, "Everyone") || strings.Contains(bob, ">dev<") {
		t.Fatal("bob sees alice's containers")
	}
}

func TestWebSignInRateLimit(t *testing.T) {
	l := newLab(t)
	b := l.browser()
	for range 10 {
		b.want("GET", "/signin?t=lxgl_nope", 401, "")
	}
	b.want("GET", "/signin?t=lxgl_nope", 429, "Too many")
}
