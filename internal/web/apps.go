package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/lxcgate/lxcgate/internal/apps"
	"github.com/lxcgate/lxcgate/internal/audit"
)

// Apps is the apps listener's side (apps.Server): the gateway page signs
// browsers in to apps, and hands it the requests for apps' own origins.
type Apps interface {
	Mint(ctx context.Context, user, gwCookie, owner, name, label, next string) (string, error)
	Owns(host string) bool
	http.Handler
}

func (s *Server) appRoutes() {
	if s.o.Apps == nil {
		return
	}
	h := s.guard(audit.KindWeb, s.openApp, s.pageRefusal)
	s.mux.Handle("GET /apps/{owner}/{name}/{label}", h)
	s.mux.Handle("GET /apps/{owner}/{name}/{label}/", h)
}

// openApp sends a signed-in browser to an app of theirs with a one-time
// token; any other user's app, an admin's request included, is 404.
func (s *Server) openApp(w http.ResponseWriter, r *http.Request, c caller) string {
	if c.method != "session" {
		s.errorPage(w, r, refuse(http.StatusForbidden, "apps open in a browser signed in with 'ssh GATEWAY web', not with a token"))
		return "not a browser session"
	}
	to, err := s.o.Apps.Mint(r.Context(), c.user.Name, c.cookie, r.PathValue("owner"), r.PathValue("name"), r.PathValue("label"),
		r.URL.Query().Get("next"))
	switch {
	case errors.Is(err, apps.ErrNotYours):
		s.errorPage(w, r, refuse(http.StatusNotFound, "No such app of yours."))
		return "not theirs"
	case err != nil:
		s.errorPage(w, r, refuse(http.StatusServiceUnavailable, err.Error()))
		return err.Error()
	}
	// The token is in the URL: no referrer carries it further.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, to, http.StatusSeeOther)
	return "app " + r.PathValue("label") + " of " + r.PathValue("name")
}
