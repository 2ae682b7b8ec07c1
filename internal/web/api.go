package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/mountpath"
	"github.com/lxcgate/lxcgate/internal/units"
	"github.com/lxcgate/lxcgate/internal/users"
)

func (s *Server) apiRoutes() {
	api := func(pattern string, h handler) { s.mux.Handle(pattern, s.guard(audit.KindAPI, h, s.apiRefusal)) }
	api("GET /api/v1/me", s.apiMe)
	api("GET /api/v1/containers", s.apiList)
	api("POST /api/v1/containers", s.apiCreate)
	api("GET /api/v1/containers/{name}", s.apiGet)
	api("DELETE /api/v1/containers/{name}", s.apiDelete)
	api("POST /api/v1/containers/{name}/{verb}", s.apiAct)
	api("GET /api/v1/containers/{name}/snapshots", s.apiSnapshots)
	api("GET /api/v1/gpus", s.apiGPUs)
	api("GET /api/v1/queue", s.apiQueue)
	api("GET /api/v1/usage", s.apiUsage)
	api("GET /api/v1/quota", s.apiQuota)
	s.volumeRoutes(api)
	s.mux.Handle("GET /api/v1/openapi.json", s.open(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := files.ReadFile("openapi.json")
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})))
	// Anything else under /api answers in JSON, not with the page's 404.
	api("/api/", func(w http.ResponseWriter, r *http.Request, c caller) string {
		writeError(w, http.StatusNotFound, "no such endpoint; see /api/v1/openapi.json")
		return "no such endpoint"
	})
}

// apiRefusal answers a refused API request in JSON.
func (s *Server) apiRefusal(w http.ResponseWriter, _ *http.Request, e *refusal) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lxcgate"`)
	}
	writeError(w, e.status, e.msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// apiError is every error's body.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{msg})
}

// fail answers a service error with its status (see statusOf) and returns
// it for the audit row.
func (s *Server) fail(w http.ResponseWriter, err error) string {
	status := statusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.log.Error("api request failed", "err", err)
	}
	writeError(w, status, msg)
	return msg
}

// statusOf maps the service's errors to HTTP statuses. Quota refusals are
// 403 (the request is well formed; the user may not have that much);
// conflicts with the current state are 409.
func statusOf(err error) int {
	var ue cli.UsageError
	switch {
	case errors.As(err, &ue):
		return http.StatusBadRequest
	case errors.Is(err, containers.ErrNoSuch), errors.Is(err, containers.ErrNoSnapshot), errors.Is(err, containers.ErrNoVolume),
		errors.Is(err, containers.ErrNoDataset):
		return http.StatusNotFound
	case errors.Is(err, containers.ErrQuota):
		return http.StatusForbidden
	case errors.Is(err, containers.ErrBadName), errors.Is(err, containers.ErrNoImage), errors.Is(err, containers.ErrNoGPU),
		errors.Is(err, containers.ErrNoHost), errors.Is(err, containers.ErrBadVolumeName), errors.Is(err, mountpath.ErrBadPath):
		return http.StatusBadRequest
	case errors.Is(err, containers.ErrExists), errors.Is(err, containers.ErrGPUHeld), errors.Is(err, containers.ErrStopped),
		errors.Is(err, containers.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, containers.ErrUnreachable):
		return http.StatusServiceUnavailable
	}
	// The service's other errors are one-line refusals in the user's words
	// ("dev is running; stop it first"): the state forbids the operation.
	return http.StatusConflict
}

// badRequest is a request the API could not understand (400).
func badRequest(format string, a ...any) error { return cli.Usagef(format, a...) }

// decode reads a JSON body of at most maxBody bytes into v; an empty body
// leaves v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return 0, nil
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("the request body is over %d KiB", maxBody>>10)
	}
	return http.StatusBadRequest, fmt.Errorf("the request body is not the JSON expected: %v", err)
}

// queryBool reads a boolean query parameter: absent is false; given, it is
// true, false, 1 or 0, once. Anything else is a malformed request, never
// a quiet true: "?force=false" must not force.
func queryBool(r *http.Request, key string) (bool, error) {
	vs, ok := r.URL.Query()[key]
	if !ok {
		return false, nil
	}
	if len(vs) == 1 {
		switch vs[0] {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
	}
	return false, badRequest("?%s= takes true, false, 1 or 0, once", key)
}

// name is the container named in the path. A name no container can have
// (a slash, dots) is "no such container", as the shell says, whoever asks.
func name(r *http.Request) (string, error) {
	n := r.PathValue("name")
	if containers.ValidName(n) != nil {
		return "", fmt.Errorf("%w: no such container %q", containers.ErrNoSuch, n)
	}
	return n, nil
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, c caller) string {
	writeJSON(w, http.StatusOK, users.Whoami{Name: c.user.Name, Role: string(c.user.Role), Method: c.method, Remote: c.remote})
	return ""
}

func (s *Server) apiList(w http.ResponseWriter, r *http.Request, c caller) string {
	all, note, ok := s.adminAll(w, r, c)
	if !ok {
		return note
	}
	list, err := s.o.Service.List(r.Context(), c.user.Name, all)
	if err != nil {
		return s.fail(w, fmt.Errorf("list: %w", err))
	}
	for i := range list {
		list[i] = list[i].InUTC()
	}
	writeJSON(w, http.StatusOK, list)
	return ""
}

func (s *Server) apiGet(w http.ResponseWriter, r *http.Request, c caller) string {
	n, err := name(r)
	if err != nil {
		return s.fail(w, err)
	}
	ct, err := s.o.Service.Get(r.Context(), c.user.Name, n)
	if err != nil {
		return s.fail(w, err)
	}
	writeJSON(w, http.StatusOK, ct.InUTC())
	return ""
}

func (s *Server) apiSnapshots(w http.ResponseWriter, r *http.Request, c caller) string {
	n, err := name(r)
	if err != nil {
		return s.fail(w, err)
	}
	list, err := s.o.Service.Snapshots(r.Context(), c.user.Name, n)
	if err != nil {
		return s.fail(w, err)
	}
	for i := range list {
		list[i].Created = list[i].Created.UTC()
	}
	writeJSON(w, http.StatusOK, list)
	return ""
}

func (s *Server) apiGPUs(w http.ResponseWriter, r *http.Request, c caller) string {
	gs, err := s.o.Service.GPUs(r.Context())
	if err != nil {
		return s.fail(w, fmt.Errorf("gpus: %w", err))
	}
	writeJSON(w, http.StatusOK, containers.ViewGPUs(gs, c.user.Name, c.user.IsAdmin()))
	return ""
}

func (s *Server) apiQuota(w http.ResponseWriter, r *http.Request, c caller) string {
	q, use, err := s.o.Service.Quota(r.Context(), c.user.Name)
	if err != nil {
		return s.fail(w, err)
	}
	writeJSON(w, http.StatusOK, containers.QuotaView{User: c.user.Name, Quota: q, Usage: use})
	return ""
}

func (s *Server) apiDelete(w http.ResponseWriter, r *http.Request, c caller) string {
	n, err := name(r)
	if err != nil {
		return s.fail(w, err)
	}
	force, err := queryBool(r, "force")
	if err != nil {
		return s.fail(w, err)
	}
	if err := s.o.Service.Delete(r.Context(), c.user.Name, n, force); err != nil {
		return s.fail(w, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return "deleted " + n
}

// adminAll reads ?all=: everyone's, for admins; a member's all=1 is 403.
// ok is false when the answer was written (note says why).
func (s *Server) adminAll(w http.ResponseWriter, r *http.Request, c caller) (all bool, note string, ok bool) {
	all, err := queryBool(r, "all")
	if err != nil {
		return false, s.fail(w, err), false
	}
	if all && !c.user.IsAdmin() {
		writeError(w, http.StatusForbidden, "all=1 is for admins")
		return false, "all refused", false
	}
	return all, "", true
}

// apiQueue is 'queue --json' (admins: ?all=1 names everyone's).
func (s *Server) apiQueue(w http.ResponseWriter, r *http.Request, c caller) string {
	all, note, ok := s.adminAll(w, r, c)
	if !ok {
		return note
	}
	list, err := s.o.Service.Queue(r.Context(), c.user.Name, all)
	if err != nil {
		return s.fail(w, err)
	}
	writeJSON(w, http.StatusOK, list)
	return ""
}

// apiUsage is 'usage --json': ?since=30d, ?by=day|week|month; admins:
// ?user=NAME or ?all=1.
func (s *Server) apiUsage(w http.ResponseWriter, r *http.Request, c caller) string {
	all, err := queryBool(r, "all")
	if err != nil {
		return s.fail(w, err)
	}
	q := r.URL.Query()
	user := c.user.Name
	switch {
	case (all || q.Get("user") != "") && !c.user.IsAdmin():
		writeError(w, http.StatusForbidden, "user= and all=1 are for admins")
		return "refused"
	case all:
		user = ""
	case q.Get("user") != "":
		user = q.Get("user")
	}
	since := 30 * 24 * time.Hour
	if v := q.Get("since"); v != "" {
		if since, err = units.ParseAge(v); err != nil || since <= 0 {
			return s.fail(w, badRequest("since=%q: give a span such as 30d or 12h", v))
		}
	}
	rows, err := s.o.Service.Usage(r.Context(), containers.UsageQuery{User: user, Since: since, By: q.Get("by")})
	if err != nil {
		return s.fail(w, badRequest("%v", err))
	}
	writeJSON(w, http.StatusOK, rows)
	return ""
}
