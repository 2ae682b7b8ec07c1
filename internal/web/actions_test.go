package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/web"
)

// spy is the service with a record of the changes asked of it, so that a
// test can say that a refused button did nothing; with apps set, every
// container has a web app named notebook.
type spy struct {
	containers.API
	apps  bool
	mu    sync.Mutex
	calls []string
}

var _ containers.API = (*spy)(nil)

func (s *spy) note(call, user, name string) {
	s.mu.Lock()
	s.calls = append(s.calls, call+" "+user+"/"+name)
	s.mu.Unlock()
}

// changes returns the calls recorded since the last, and forgets them.
func (s *spy) changes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *spy) Start(ctx context.Context, user, name string) error {
	s.note("start", user, name)
	return s.API.Start(ctx, user, name)
}

func (s *spy) Stop(ctx context.Context, user, name string, force bool) error {
	s.note("stop", user, name)
	return s.API.Stop(ctx, user, name, force)
}

func (s *spy) Restart(ctx context.Context, user, name string) error {
	s.note("restart", user, name)
	return s.API.Restart(ctx, user, name)
}

func (s *spy) Delete(ctx context.Context, user, name string, force bool) error {
	s.note("delete", user, name)
	return s.API.Delete(ctx, user, name, force)
}

func (s *spy) Restore(ctx context.Context, user, name, snap string) error {
	s.note("restore", user, name)
	return s.API.Restore(ctx, user, name, snap)
}

func (s *spy) TakeSnapshot(ctx context.Context, user, name, snap string, keep bool) (string, []string, error) {
	s.note("snapshot", user, name)
	return s.API.TakeSnapshot(ctx, user, name, snap, keep)
}

func (s *spy) Get(ctx context.Context, user, name string) (containers.Container, error) {
	ct, err := s.API.Get(ctx, user, name)
	return s.withApp(ct), err
}

func (s *spy) List(ctx context.Context, user string, all bool) ([]containers.Container, error) {
	list, err := s.API.List(ctx, user, all)
	for i := range list {
		list[i] = s.withApp(list[i])
	}
	return list, err
}

func (s *spy) withApp(ct containers.Container) containers.Container {
	if s.apps && ct.Name != "" {
		ct.Ports = append(ct.Ports, containers.Port{Service: "notebook", ContainerPort: 8888, Web: true,
			URL: "https://apps.gpu1.example.org/" + ct.Owner + "/" + ct.Name + "/notebook/"})
	}
	return ct
}

// spyLab is a lab whose server reaches the service through a spy.
func spyLab(t *testing.T) (*lab, *spy) {
	sp := &spy{}
	l := newLab(t, func(o *web.Options) { sp.API = o.Service; o.Service = sp })
	return l, sp
}

// session signs user in with a standard cookie jar (which drops the
// flash cookie alone when it is cleared) and returns the browser and the
// session's CSRF token, read from the list page.
func (l *lab) session(user string) (*browser, string) {
	l.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{l: l, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if resp, body := b.post("/signin", url.Values{"t": {l.link(user)}}, nil, ""); resp.StatusCode != http.StatusSeeOther {
		l.t.Fatalf("sign in %s: %d %q", user, resp.StatusCode, body)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(b.want("GET", "/", 200, ""))
	if m == nil {
		l.t.Fatal("no CSRF token on the page")
	}
	return b, m[1]
}

// press posts a button's form and returns the status, the redirect and
// the body.
func (b *browser) press(path string, form url.Values) (int, string, string) {
	b.l.t.Helper()
	resp, body := b.post(path, form, nil, "")
	return resp.StatusCode, resp.Header.Get("Location"), body
}

// done presses a button that must work: 303 to where, whose page then
// shows flash once.
func (b *browser) done(path string, form url.Values, where, flash string) {
	b.l.t.Helper()
	status, loc, body := b.press(path, form)
	if status != http.StatusSeeOther || loc != where {
		b.l.t.Fatalf("POST %s: %d to %q %q, want 303 to %s", path, status, loc, body, where)
	}
	page := b.want("GET", where, 200, flash)
	if !strings.Contains(page, `class="flash flash-ok"`) {
		b.l.t.Fatalf("POST %s: the flash is not marked done:\n%s", path, page)
	}
	if strings.Contains(b.want("GET", where, 200, ""), flash) {
		b.l.t.Fatalf("POST %s: the flash %q shows again on reload", path, flash)
	}
}

func (l *lab) state(name string) string {
	l.t.Helper()
	out := l.shellJSON(users.User{Name: "alice", Role: users.RoleUser}, "details "+name+" --json")
	m := regexp.MustCompile(`"state": "([a-z]+)"`).FindStringSubmatch(out)
	if m == nil {
		l.t.Fatalf("details %s: %s", name, out)
	}
	return m[1]
}

func TestWebButtons(t *testing.T) {
	l, sp := spyLab(t)
	l.want("POST", "/api/v1/containers", l.token("alice"), `{"name":"dev","start":true}`, 201, "")
	b, csrf := l.session("alice")
	page := b.want("GET", "/containers/dev", 200, "Actions")
	for _, verb := range []string{"start", "stop", "restart", "snapshot", "renew", "delete"} {
		if !strings.Contains(page, `action="/containers/dev/`+verb+`"`) {
			t.Errorf("the page has no %s button", verb)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "style=") {
		t.Error("the page has a script or an inline style")
	}
	form := func(kv ...string) url.Values {
		v := url.Values{"csrf": {csrf}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	b.done("/containers/dev/stop", form(), "/containers/dev", "Stopped dev.")
	if s := l.state("dev"); s != "stopped" {
		t.Fatalf("after stop: %s", s)
	}
	b.done("/containers/dev/start", form(), "/containers/dev", "Started dev.")
	if s := l.state("dev"); s != "running" {
		t.Fatalf("after start: %s", s)
	}
	b.done("/containers/dev/restart", form(), "/containers/dev", "Restarted dev.")
	b.done("/containers/dev/snapshot", form("snapshot", "s1", "keep", "1"), "/containers/dev", "Took snapshot s1 of dev (pinned).")
	if out := l.shellJSON(users.User{Name: "alice"}, "snapshots dev --json"); !strings.Contains(out, `"s1"`) {
		t.Fatalf("snapshots after the button: %s", out)
	}
	b.done("/containers/dev/renew", form("lease", "2d"), "/containers/dev", "dev&#39;s lease now runs out at")
	b.want("GET", "/containers/dev", 200, "Lease ends")
	b.done("/containers/dev/restore", form("snapshot", "s1", "confirm", "dev"), "/containers/dev", "Restored dev to s1.")
	// The list's compact buttons come back to the list.
	if !strings.Contains(b.want("GET", "/", 200, ""), `action="/containers/dev/stop"`) {
		t.Error("the list has no stop button for a running container")
	}
	b.done("/containers/dev/stop", form("from", "list"), "/", "Stopped dev.")
	if !strings.Contains(b.want("GET", "/", 200, ""), `action="/containers/dev/start"`) {
		t.Error("the list has no start button for a stopped container")
	}
	b.done("/containers/dev/delete", form("confirm", "dev"), "/", "Deleted dev.")
	if out := l.shellJSON(users.User{Name: "alice"}, "list --json"); strings.Contains(out, "dev") {
		t.Fatalf("dev is still listed: %s", out)
	}
	want := []string{"stop", "start", "restart", "snapshot", "restore", "stop", "delete"}
	if got := sp.changes(); len(got) != len(want) {
		t.Fatalf("service calls %v, want %v", got, want)
	}
	// One audit row per press, as the shell writes one per command.
	var rows []string
	for _, r := range l.rows() {
		if strings.HasPrefix(r.Detail, "POST /containers/dev/") {
			if r.User != "alice" || r.Method != "session" || !r.OK {
				t.Errorf("audit row %+v", r)
			}
			rows = append(rows, r.Detail)
		}
	}
	if len(rows) != 8 || !strings.Contains(rows[0], "=> 303: Deleted dev.") {
		t.Fatalf("audit rows %q", rows)
	}
}

// A refusal draws the page again with the service's own one-line error
// and its status, so that the audit row records a failure.
func TestWebButtonRefused(t *testing.T) {
	l, _ := spyLab(t)
	l.want("POST", "/api/v1/containers", l.token("alice"), `{"name":"dev","start":true}`, 201, "")
	b, csrf := l.session("alice")
	status, _, body := b.press("/containers/dev/start", url.Values{"csrf": {csrf}})
	if status != http.StatusConflict || !strings.Contains(body, "dev is already running") || !strings.Contains(body, "flash-error") {
		t.Fatalf("start a running container: %d %q", status, body)
	}
	if r := l.rows()[0]; r.OK || !strings.Contains(r.Detail, "=> 409: ") || !strings.Contains(r.Detail, "dev is already running") {
		t.Fatalf("audit row %+v", r)
	}
	status, _, body = b.press("/containers/dev/delete", url.Values{"csrf": {csrf}, "confirm": {"dev"}})
	if status != http.StatusConflict || !strings.Contains(body, "dev is running") {
		t.Fatalf("delete a running container: %d %q", status, body)
	}
	status, _, body = b.press("/containers/dev/renew", url.Values{"csrf": {csrf}, "lease": {"soon"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "say 12h or 7d") {
		t.Fatalf("renew with a bad lease: %d %q", status, body)
	}
	// Text from the request is escaped like any other.
	status, _, body = b.press("/containers/dev/snapshot", url.Values{"csrf": {csrf}, "snapshot": {"<b>x</b>"}})
	if status < 400 || strings.Contains(body, "<b>") {
		t.Fatalf("a snapshot named <b>: %d %q", status, body)
	}
}

func TestWebButtonsNeedCSRF(t *testing.T) {
	l, sp := spyLab(t)
	l.want("POST", "/api/v1/containers", l.token("alice"), `{"name":"dev","start":true}`, 201, "")
	b, csrf := l.session("alice")
	_, other := l.session("bob")
	for _, form := range []url.Values{{}, {"csrf": {"wrong"}}, {"csrf": {other}}} {
		for _, verb := range []string{"start", "stop", "restart", "snapshot", "renew", "restore", "delete"} {
			form.Set("confirm", "dev")
			form.Set("snapshot", "s1")
			if status, _, body := b.press("/containers/dev/"+verb, form); status != http.StatusForbidden || !strings.Contains(body, "CSRF") {
				t.Errorf("%s with csrf %q: %d %q", verb, form.Get("csrf"), status, body)
			}
		}
	}
	if got := sp.changes(); len(got) != 0 {
		t.Fatalf("refused forms reached the service: %v", got)
	}
	if s := l.state("dev"); s != "running" {
		t.Fatalf("dev is %s", s)
	}
	if status, _, _ := b.press("/containers/dev/stop", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther {
		t.Fatalf("with its token: %d", status)
	}
}

// Another user's container is not there, as on its page; an admin's
// buttons, like the JSON API, act on the admin's own containers only.
func TestWebButtonsOnAnothersContainer(t *testing.T) {
	l, sp := spyLab(t)
	l.want("POST", "/api/v1/containers", l.token("alice"), `{"name":"dev","start":true}`, 201, "")
	for _, who := range []string{"bob", "root1"} {
		b, csrf := l.session(who)
		b.want("GET", "/containers/dev", 404, "no such container")
		l.want("POST", "/api/v1/containers/dev/stop", l.token(who), "", 404, "no such container")
		for _, verb := range []string{"start", "stop", "restart", "snapshot", "renew", "restore", "delete"} {
			form := url.Values{"csrf": {csrf}, "confirm": {"dev"}, "snapshot": {"s1"}, "force": {"1"}}
			status, _, body := b.press("/containers/dev/"+verb, form)
			if status != http.StatusNotFound || !strings.Contains(body, "no such container") || strings.Contains(body, "alice") {
				t.Errorf("%s %s: %d %q", who, verb, status, body)
			}
		}
	}
	for _, call := range sp.changes() {
		if strings.HasSuffix(call, " alice/dev") {
			t.Errorf("a button reached alice's container: %s", call)
		}
	}
	if s := l.state("dev"); s != "running" {
		t.Fatalf("dev is %s", s)
	}
	if out := l.shellJSON(users.User{Name: "alice"}, "snapshots dev --json"); strings.Contains(out, `"name"`) {
		t.Fatalf("a snapshot was taken: %s", out)
	}
}

func TestWebButtonsTypedName(t *testing.T) {
	l, sp := spyLab(t)
	tok := l.token("alice")
	l.want("POST", "/api/v1/containers", tok, `{"name":"dev"}`, 201, "")
	l.want("POST", "/api/v1/containers/dev/snapshot", tok, `{"name":"s1","keep":true}`, 201, "")
	sp.changes()
	b, csrf := l.session("alice")
	if page := b.want("GET", "/containers/dev", 200, ""); !strings.Contains(page, `<option value="s1">`) {
		t.Fatalf("the restore form does not offer s1:\n%s", page)
	}
	for _, tc := range []struct{ verb, typed, want string }{
		{"delete", "", "delete dev: the name did not match; nothing was deleted"},
		{"delete", "dve", "delete dev: the name did not match; nothing was deleted"},
		{"delete", "DEV", "delete dev: the name did not match; nothing was deleted"},
		{"restore", "", "restore dev: the name did not match; nothing changed"},
		{"restore", "de", "restore dev: the name did not match; nothing changed"},
	} {
		form := url.Values{"csrf": {csrf}, "confirm": {tc.typed}, "snapshot": {"s1"}}
		status, _, body := b.press("/containers/dev/"+tc.verb, form)
		if status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s typed %q: %d %q", tc.verb, tc.typed, status, body)
		}
	}
	if got := sp.changes(); len(got) != 0 {
		t.Fatalf("a wrong name reached the service: %v", got)
	}
	if out := l.shellJSON(users.User{Name: "alice"}, "list --json"); !strings.Contains(out, `"dev"`) {
		t.Fatalf("dev is gone: %s", out)
	}
	if status, _, body := b.press("/containers/dev/restore", url.Values{"csrf": {csrf}, "confirm": {"dev"}}); status != http.StatusBadRequest ||
		!strings.Contains(body, "choose a snapshot") {
		t.Fatalf("restore without a snapshot: %d %q", status, body)
	}
	b.done("/containers/dev/restore", url.Values{"csrf": {csrf}, "confirm": {"dev"}, "snapshot": {"s1"}}, "/containers/dev", "Restored dev to s1.")
}

func TestWebAppLinks(t *testing.T) {
	l, sp := spyLab(t)
	sp.apps = true
	l.want("POST", "/api/v1/containers", l.token("alice"), `{"name":"dev"}`, 201, "")
	b, _ := l.session("alice")
	link := `<a href="/apps/alice/dev/notebook">notebook</a>`
	for _, path := range []string{"/", "/containers/dev"} {
		if page := b.want("GET", path, 200, ""); !strings.Contains(page, link) {
			t.Errorf("%s lacks %s", path, link)
		}
	}
}

// A flash cookie set by someone else is shown as text, never as markup,
// and one that does not decode is ignored.
func TestWebFlashIsText(t *testing.T) {
	l := newLab(t)
	b, _ := l.session("alice")
	u, _ := url.Parse(l.url)
	for _, tc := range []struct{ value, want string }{
		{base64.RawURLEncoding.EncodeToString([]byte("o<script>alert(1)</script>")), "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"%%%", "Your containers"},
	} {
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "lxcgate_flash", Value: tc.value, Path: "/"}})
		page := b.want("GET", "/", 200, tc.want)
		if strings.Contains(page, "<script") || tc.value == "%%%" && strings.Contains(page, `id="flash"`) {
			t.Fatalf("flash %q drawn as:\n%s", tc.value, page)
		}
	}
}
