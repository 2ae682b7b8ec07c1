package web

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
)

// The page's buttons are plain forms (no script: the CSP allows none)
// posted to POST /containers/{name}/{verb}. They go through guard like
// every page, so a session's form carries its CSRF token and each press
// leaves one audit row, and they call the same service methods as the
// shell and the JSON API, which make every check.

// action is one button's work on the caller's container name: it returns
// what it did, in the shell's words, or the service's one-line error.
type action func(ctx context.Context, r *http.Request, user, name string) (string, error)

// actions are the buttons, by the verb in their path.
func (s *Server) actions() map[string]action {
	cs := s.o.Service
	return map[string]action{
		"start": func(ctx context.Context, _ *http.Request, user, n string) (string, error) {
			return "Started " + n + ".", cs.Start(ctx, user, n)
		},
		"stop": func(ctx context.Context, _ *http.Request, user, n string) (string, error) {
			return "Stopped " + n + ".", cs.Stop(ctx, user, n, false)
		},
		"restart": func(ctx context.Context, _ *http.Request, user, n string) (string, error) {
			return "Restarted " + n + ".", cs.Restart(ctx, user, n)
		},
		"snapshot": s.snapshotAction,
		"renew":    s.renewAction,
		"restore":  s.restoreAction,
		"delete":   s.deleteAction,
	}
}

func (s *Server) snapshotAction(ctx context.Context, r *http.Request, user, n string) (string, error) {
	keep := r.PostFormValue("keep") != ""
	snap, pruned, err := s.o.Service.TakeSnapshot(ctx, user, n, strings.TrimSpace(r.PostFormValue("snapshot")), keep)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Took snapshot %s of %s", snap, n)
	if keep {
		msg += " (pinned)"
	}
	if len(pruned) > 0 {
		msg += "; pruned the oldest: " + strings.Join(pruned, ", ")
	}
	return msg + ".", nil
}

func (s *Server) renewAction(ctx context.Context, r *http.Request, user, n string) (string, error) {
	d, err := containers.ParseLease(strings.TrimSpace(r.PostFormValue("lease")))
	if err != nil {
		return "", cli.Usage(err)
	}
	until, err := s.o.Service.Renew(ctx, user, n, d)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s's lease now runs out at %s.", n, until.UTC().Format(time.RFC3339)), nil
}

func (s *Server) restoreAction(ctx context.Context, r *http.Request, user, n string) (string, error) {
	if err := s.confirmed(ctx, r, user, n, "restore", "changed"); err != nil {
		return "", err
	}
	snap := r.PostFormValue("snapshot")
	if snap == "" {
		return "", cli.Usagef("restore %s: choose a snapshot", n)
	}
	return fmt.Sprintf("Restored %s to %s.", n, snap), s.o.Service.Restore(ctx, user, n, snap)
}

func (s *Server) deleteAction(ctx context.Context, r *http.Request, user, n string) (string, error) {
	if err := s.confirmed(ctx, r, user, n, "delete", "was deleted"); err != nil {
		return "", err
	}
	return "Deleted " + n + ".", s.o.Service.Delete(ctx, user, n, r.PostFormValue("force") != "")
}

// confirmed is the shell's typed confirmation: the form's "confirm" field
// must be the container's name. A container the caller does not have is
// "no such container" first, as the shell's delete says before its prompt.
func (s *Server) confirmed(ctx context.Context, r *http.Request, user, n, verb, nothing string) error {
	if _, err := s.o.Service.Get(ctx, user, n); err != nil {
		return err
	}
	if strings.TrimSpace(r.PostFormValue("confirm")) != n {
		return cli.Usagef("%s %s: the name did not match; nothing %s", verb, n, nothing)
	}
	return nil
}

// act serves one button: done, it redirects (303) to the container's page
// (the list after a delete, or when the button was on the list) with a
// flash message; refused, it draws that page again at once with the
// error and the error's status, so that the audit row, whose success is
// the status, says that it failed.
func (s *Server) act(verb string, a action) handler {
	return func(w http.ResponseWriter, r *http.Request, c caller) string {
		n, err := name(r)
		if err != nil {
			s.errorPage(w, r, refuse(http.StatusNotFound, err.Error()))
			return err.Error()
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		onList := r.PostFormValue("from") == "list"
		msg, err := a(r.Context(), r, c.user.Name, n)
		if err != nil {
			status := statusOf(err)
			if status >= 500 {
				s.log.Error("page action failed", "verb", verb, "user", c.user.Name, "name", n, "err", err)
			}
			f := &flash{Text: err.Error()}
			if onList {
				s.indexPage(w, r, c, status, f)
			} else {
				s.showContainer(w, r, c, n, status, f)
			}
			return err.Error()
		}
		s.setFlash(w, flash{OK: true, Text: msg})
		to := "/containers/" + url.PathEscape(n)
		if verb == "delete" || onList {
			to = "/"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return msg
	}
}

// flash is the one line a page shows after a button: what happened, or
// why not. It travels to the next page in a short-lived cookie, and the
// template escapes it like any text.
type flash struct {
	OK   bool
	Text string
}

const (
	flashCookie = "lxcgate_flash"
	maxFlash    = 500 // bytes of a flash message kept
)

func (s *Server) setFlash(w http.ResponseWriter, f flash) {
	v := "e"
	if f.OK {
		v = "o"
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(v + cut(f.Text, maxFlash))),
		Path: "/", MaxAge: 60, HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteStrictMode})
}

// takeFlash reads the flash message left for this page, if any, and
// removes it, so that a reload does not show it again.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.o.Secure,
		SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) < 2 || !utf8.Valid(b) || (b[0] != 'o' && b[0] != 'e') {
		return nil
	}
	return &flash{OK: b[0] == 'o', Text: cut(string(b[1:]), maxFlash)}
}

// cut shortens s to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
