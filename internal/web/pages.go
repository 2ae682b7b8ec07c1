package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/units"
)

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"size": units.FormatSize,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"dict2": func(q containers.Quota, u containers.Usage) map[string]any { return map[string]any{"Q": q, "U": u} },
	"bar":   func(used, limit any) template.HTML { return quotaBar(toInt64(used), toInt64(limit)) },
	// dict makes a sub-template's dot of key, value pairs: a container
	// and what its forms need.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict takes key, value pairs")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}).ParseFS(files, "templates/*.html"))

func (s *Server) pageRoutes() {
	page := func(pattern string, h handler) { s.mux.Handle(pattern, s.guard(audit.KindWeb, h, s.pageRefusal)) }
	page("GET /{$}", s.index)
	page("GET /containers/{name}", s.containerPage)
	page("POST /signout", s.signout)
	for verb, a := range s.actions() {
		page("POST /containers/{name}/"+verb, s.act(verb, a))
	}
	s.mux.HandleFunc("GET /signin", s.signinPage)
	s.mux.HandleFunc("POST /signin", s.signin)
	s.mux.Handle("GET /favicon.ico", s.open(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })))
}

// pageRefusal shows a page saying how to sign in (or why not).
func (s *Server) pageRefusal(w http.ResponseWriter, r *http.Request, e *refusal) {
	s.errorPage(w, r, e)
}

func (s *Server) errorPage(w http.ResponseWriter, _ *http.Request, e *refusal) {
	s.render(w, e.status, "error.html", map[string]any{"Title": http.StatusText(e.status), "Message": e.msg,
		"SignIn": e.status == http.StatusUnauthorized, "Host": s.o.Host})
}

// render executes a page into a buffer first, so that a template error
// is a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		s.log.Error("rendering a page failed", "page", name, "err", err)
		http.Error(w, "the page could not be drawn; the error was logged", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// box is a container as the page shows it.
type box struct {
	containers.Container
	Reach []reach // published ports
	Apps  []app   // web apps, served through the gateway
}

// app is a link to one of a container's web apps.
type app struct {
	Label string
	Href  string // gateway-relative: /apps/OWNER/NAME/LABEL
}

type reach struct {
	Service string
	Port    int
	Line    string
}

func (s *Server) boxOf(ct containers.Container) box {
	b := box{Container: ct.InUTC()}
	for _, p := range ct.Ports {
		if p.Web {
			b.Apps = append(b.Apps, app{p.Service, "/apps/" + url.PathEscape(ct.Owner) + "/" + url.PathEscape(ct.Name) + "/" +
				url.PathEscape(p.Service)})
			continue
		}
		b.Reach = append(b.Reach, reach{p.Service, p.ContainerPort, p.Reach(s.o.Public)})
	}
	return b
}

// owner is one user's containers and use, for the admins' overview.
type owner struct {
	Name   string
	Boxes  []box
	Quota  containers.Quota
	Usage  containers.Usage
	Failed bool // the quota could not be read
}

func (s *Server) index(w http.ResponseWriter, r *http.Request, c caller) string {
	return s.indexPage(w, r, c, http.StatusOK, s.takeFlash(w, r))
}

// indexPage draws the list with status and a flash message (nil: none).
func (s *Server) indexPage(w http.ResponseWriter, r *http.Request, c caller, status int, f *flash) string {
	ctx := r.Context()
	now := s.o.Now()
	gs, err := s.o.Service.GPUs(ctx)
	if err != nil {
		s.log.Warn("page: GPUs unknown", "err", err)
	}
	mine, err := s.o.Service.List(ctx, c.user.Name, false)
	if err != nil {
		s.errorPage(w, r, refuse(http.StatusServiceUnavailable, "Your containers cannot be listed now: "+err.Error()))
		return err.Error()
	}
	vols, verr := s.o.Service.ListVolumes(ctx, c.user.Name)
	if verr != nil {
		s.log.Warn("page: volumes unknown", "user", c.user.Name, "err", verr)
	}
	q, use, err := s.o.Service.Quota(ctx, c.user.Name)
	if err != nil {
		s.log.Warn("page: quota unknown", "user", c.user.Name, "err", err)
	}
	data := map[string]any{
		"Title": "Lab", "Host": s.o.Host, "User": c.user, "CSRF": c.csrf(), "Session": c.method == "session",
		"GPUs": containers.ViewGPUs(gs, c.user.Name, c.user.IsAdmin()), "Chart": s.chart(ctx, gs, now),
		"Mine": s.boxes(mine), "Quota": q, "Usage": use, "QuotaKnown": err == nil, "Now": now,
		"Volumes": vols, "Flash": f, "UsageChart": s.usageChart(ctx, c.user.Name, c.user.IsAdmin(), now),
	}
	if c.user.IsAdmin() {
		data["Everyone"] = s.everyone(ctx, c.user.Name)
	}
	s.render(w, status, "index.html", data)
	return ""
}

func (s *Server) boxes(list []containers.Container) []box {
	out := make([]box, len(list))
	for i, ct := range list {
		out[i] = s.boxOf(ct)
	}
	return out
}

// chart draws the last week's GPU occupancy; without a history it shows
// an empty week rather than failing the page.
func (s *Server) chart(ctx context.Context, gs []containers.GPUInfo, now time.Time) template.HTML {
	from := now.Add(-chartSpan)
	spans, err := s.o.Service.GPUHistory(ctx, from)
	if err != nil {
		s.log.Warn("page: GPU history unknown", "err", err)
	}
	return chartSVG(occupancy(spans, gs, from, now), len(gs), from, now)
}

// everyone is every user's containers with their quota, for admins.
func (s *Server) everyone(ctx context.Context, admin string) []owner {
	all, err := s.o.Service.List(ctx, admin, true)
	if err != nil {
		s.log.Warn("page: everyone's containers unknown", "err", err)
		return nil
	}
	by := map[string]*owner{}
	for _, ct := range all {
		o := by[ct.Owner]
		if o == nil {
			o = &owner{Name: ct.Owner}
			by[ct.Owner] = o
		}
		o.Boxes = append(o.Boxes, s.boxOf(ct))
	}
	out := make([]owner, 0, len(by))
	for _, o := range by {
		q, use, err := s.o.Service.Quota(ctx, o.Name)
		o.Quota, o.Usage, o.Failed = q, use, err != nil
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) containerPage(w http.ResponseWriter, r *http.Request, c caller) string {
	n, err := name(r)
	if err != nil {
		s.errorPage(w, r, refuse(http.StatusNotFound, err.Error()))
		return err.Error()
	}
	return s.showContainer(w, r, c, n, http.StatusOK, s.takeFlash(w, r))
}

// showContainer draws the caller's container n with status and a flash
// message (nil: none); one the caller does not have is the error page.
func (s *Server) showContainer(w http.ResponseWriter, r *http.Request, c caller, n string, status int, f *flash) string {
	ct, err := s.o.Service.Get(r.Context(), c.user.Name, n)
	if err != nil {
		s.errorPage(w, r, refuse(statusOf(err), err.Error()))
		return err.Error()
	}
	snaps, serr := s.o.Service.Snapshots(r.Context(), c.user.Name, n)
	if serr != nil {
		s.log.Warn("page: snapshots unknown", "user", c.user.Name, "name", n, "err", serr)
	}
	s.render(w, status, "container.html", map[string]any{"Title": n, "Host": s.o.Host, "User": c.user,
		"CSRF": c.csrf(), "Session": c.method == "session", "Box": s.boxOf(ct), "Snapshots": snaps, "Flash": f})
	return ""
}

// quotaBar is a horizontal bar of used against limit, as inline SVG (the
// CSP allows no inline styles; SVG attributes are not styles).
func quotaBar(used, limit int64) template.HTML {
	pct := 0.0
	if limit > 0 {
		pct = min(100, 100*float64(used)/float64(limit))
	} else if used > 0 {
		pct = 100
	}
	class := "fill"
	if pct >= 90 {
		class = "fill full"
	}
	return template.HTML(`<svg class="bar" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true">` +
		`<rect class="track" width="100" height="6" rx="3"/><rect class="` + class + `" width="` +
		strconv.FormatFloat(pct, 'f', 1, 64) + `" height="6" rx="3"/></svg>`)
}

// toInt64 takes the quota's ints and int64s alike.
func toInt64(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	}
	return 0
}
