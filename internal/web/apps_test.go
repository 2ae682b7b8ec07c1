package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/apps"
	"github.com/lxcgate/lxcgate/internal/web"
)

// fakeApps records mints and serves one app origin.
type fakeApps struct {
	mints  []string
	served int
}

func (f *fakeApps) Mint(_ context.Context, user, gwCookie, owner, name, label, next string) (string, error) {
	if owner != user || gwCookie == "" {
		return "", apps.ErrNotYours
	}
	f.mints = append(f.mints, owner+"/"+name+"/"+label+" next="+next)
	return "https://apps.test/_lxcgate/auth?token=t&next=" + url.QueryEscape(next), nil
}

func (f *fakeApps) Owns(host string) bool { return strings.HasSuffix(host, ".apps.test") }

func (f *fakeApps) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.served++
	w.WriteHeader(http.StatusTeapot)
}

// The page's app link mints for the signed-in owner only: another user's
// app is 404, a token caller is refused, an unsigned browser is told to
// sign in; requests for an app origin go to the apps handler untouched.
func TestOpenApp(t *testing.T) {
	fa := &fakeApps{}
	l := newLab(t, func(o *web.Options) { o.Apps = fa })
	alice := l.signIn("alice")
	req, _ := http.NewRequest("GET", l.url+"/apps/alice/box/jupyter/?next=/alice/box/jupyter/tree", nil)
	resp, _ := alice.send(req)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "https://apps.test/_lxcgate/auth?token=") ||
		resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("open: %d %v", resp.StatusCode, resp.Header)
	}
	if len(fa.mints) != 1 || fa.mints[0] != "alice/box/jupyter next=/alice/box/jupyter/tree" {
		t.Fatalf("mints: %v", fa.mints)
	}
	alice.want("GET", "/apps/bob/box/jupyter/", http.StatusNotFound, "No such app of yours")
	l.browser().want("GET", "/apps/alice/box/jupyter/", http.StatusUnauthorized, "ssh GATEWAY web")
	tok := l.token("alice")
	if code, _ := l.send("GET", "/apps/alice/box/jupyter/", tok, "", nil); code != http.StatusForbidden {
		t.Fatalf("token caller: %d", code)
	}
	req, _ = http.NewRequest("GET", l.url+"/", nil)
	req.Host = "jupyter--box--alice.apps.test"
	resp, _ = l.browser().send(req)
	if resp.StatusCode != http.StatusTeapot || fa.served != 1 || resp.Header.Get("Content-Security-Policy") != "" {
		t.Fatalf("app origin: %d %v", resp.StatusCode, resp.Header)
	}
}
