package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

// Scenario: a script signs in with a token made over SSH and sees what
// 'list --json' sees; bob's token finds none of alice's containers; a
// revoked token and a disabled user stop at once; and no secret is
// written to the gateway's log or audit trail.
func TestWebAPI(t *testing.T) {
	g, base := webGW(t)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	root := g.addUser("root1", "root-password", true)
	g.start()
	if r := g.sshKey("alice", alice, "", "launch", "box"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	r := g.sshKey("alice", alice, "", "token", "create", "--name", "ci")
	tok := lastLine(r)
	if r.code != 0 || !strings.HasPrefix(tok, "lxg_") {
		t.Fatalf("token create: %+v", r)
	}
	bobTok := lastLine(g.sshKey("bob", bob, "", "token", "create"))

	code, body := api(t, "GET", base+"/api/v1/containers", tok, "")
	var viaAPI []container
	if code != 200 || json.Unmarshal([]byte(body), &viaAPI) != nil {
		t.Fatalf("GET containers: %d %s", code, body)
	}
	viaSSH := g.listJSON("alice", alice)
	if len(viaAPI) != 1 || len(viaSSH) != 1 || viaAPI[0].Name != "box" || viaAPI[0].IPv4 != viaSSH[0].IPv4 || viaAPI[0].State != viaSSH[0].State {
		t.Fatalf("api %+v, ssh %+v", viaAPI, viaSSH)
	}
	for _, req := range [][2]string{{"GET", "/containers/box"}, {"GET", "/containers/box/snapshots"}, {"POST", "/containers/box/stop"},
		{"POST", "/containers/box/start"}, {"POST", "/containers/box/restart"}, {"POST", "/containers/box/snapshot"}, {"DELETE", "/containers/box?force=1"},
		{"GET", "/containers/..%2falice%2fbox"}} {
		if code, body := api(t, req[0], base+"/api/v1"+req[1], bobTok, ""); code != 404 {
			t.Errorf("bob %s %s: %d %s", req[0], req[1], code, body)
		}
	}
	if code, _ := api(t, "POST", base+"/api/v1/containers/box/snapshot", tok, `{"name":"s1"}`); code != 201 {
		t.Fatalf("snapshot: %d", code)
	}
	if code, body := api(t, "GET", base+"/api/v1/containers/box/snapshots", tok, ""); code != 200 || !strings.Contains(body, `"s1"`) {
		t.Fatalf("snapshots: %d %s", code, body)
	}
	for _, bad := range []string{"", "lxg_garbage", tok + "x"} {
		if code, _ := api(t, "GET", base+"/api/v1/me", bad, ""); code != 401 {
			t.Errorf("token %q: %d, want 401", bad, code)
		}
	}
	g.mustLxcgate("", "user", "disable", "bob")
	if code, _ := api(t, "GET", base+"/api/v1/me", bobTok, ""); code != 401 {
		t.Errorf("a disabled user's token: %d, want 401", code)
	}
	if r := g.sshKey("alice", alice, "", "token", "revoke", "--all"); r.code != 0 {
		t.Fatalf("revoke: %+v", r)
	}
	if code, _ := api(t, "GET", base+"/api/v1/me", tok, ""); code != 401 {
		t.Errorf("a revoked token: %d, want 401", code)
	}
	audit := g.sshKey("root1", root, "", "audit", "--limit", "500").out
	for _, secret := range []string{tok, bobTok} {
		if strings.Contains(g.logs(), secret) || strings.Contains(audit, secret) {
			t.Fatalf("a token reached the log or the audit")
		}
	}
	if !strings.Contains(audit, "GET /api/v1/containers") {
		t.Fatalf("the API request is not audited:\n%s", audit)
	}
}

// Scenario: alice and bob each sign in with the link 'web' printed, in a
// real headless browser, on a host without GPUs. alice sees her container
// and the occupancy chart; bob sees his and not hers; the admin sees both.
// LXCGATE_E2E_SCREENSHOT=DIR writes the admin's page there (docs/).
func TestWebBrowser(t *testing.T) {
	chromiumPath(t)
	g, base := webGW(t)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	root := g.addUser("root1", "root-password", true)
	g.start()
	for _, u := range []struct{ name, key, box string }{{"alice", alice, "alicebox"}, {"bob", bob, "bobbox"}} {
		if r := g.sshKey(u.name, u.key, "", "launch", u.box); r.code != 0 {
			t.Fatalf("launch: %+v", r)
		}
	}
	link := func(user, key string) string {
		r := g.sshKey(user, key, "", "web")
		if r.code != 0 || !strings.Contains(r.out, "/signin?t=") {
			t.Fatalf("web: %+v", r)
		}
		return lastLine(r)
	}
	aliceLink := link("alice", alice)
	html, _ := browserPage(t, aliceLink, 1280)
	for _, want := range []string{"alicebox", `class="chart"`, "GPU occupancy, last 7 days", "This host has no GPUs.", "ssh -p "} {
		if !strings.Contains(html, want) {
			t.Errorf("alice's page lacks %q", want)
		}
	}
	if strings.Contains(html, "bobbox") {
		t.Error("alice sees bob's container")
	}
	html, _ = browserPage(t, link("bob", bob), 1280)
	if !strings.Contains(html, "bobbox") || strings.Contains(html, "alicebox") {
		t.Error("bob's page: his container missing, or alice's shown")
	}
	// The link worked once: a second browser is refused.
	secret := strings.SplitN(aliceLink, "t=", 2)[1]
	if resp, err := http.PostForm(base+"/signin", url.Values{"t": {secret}}); err != nil || resp.StatusCode != 401 {
		t.Errorf("a reused link: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	html, png := browserPage(t, link("root1", root), 1280)
	if !strings.Contains(html, "alicebox") || !strings.Contains(html, "bobbox") || !strings.Contains(html, "Everyone") {
		t.Error("the admin's page lacks someone's container")
	}
	if dir := os.Getenv("LXCGATE_E2E_SCREENSHOT"); dir != "" {
		_, phone := browserPage(t, link("alice", alice), 390)
		os.WriteFile(dir+"/web.png", png, 0o644)
		os.WriteFile(dir+"/web-phone.png", phone, 0o644)
	}
	if strings.Contains(g.logs(), secret) {
		t.Fatal("a sign-in link reached the log")
	}
}
