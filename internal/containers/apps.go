package containers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/store"
)

// webKey is a web app's value of its lxd.PortKey: it has no host port.
const webKey = "web"

var appLabelRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$`)

// ValidAppLabel reports whether label can name a web app: it becomes part
// of a host name (LABEL--NAME--USER.apps.example), so lower case, and no
// "--", which separates the parts.
func ValidAppLabel(label string) bool {
	return appLabelRE.MatchString(label) && !strings.Contains(label, "--")
}

// withURL fills a web app's URL.
func (s *Service) withURL(owner, name string, p Port) Port {
	if p.Web && s.conf().AppURL != nil {
		p.URL = s.conf().AppURL(owner, name, p.Service)
	}
	return p
}

func (s *Service) withURLs(owner, name string, ps []Port) []Port {
	for i := range ps {
		ps[i] = s.withURL(owner, name, ps[i])
	}
	return ps
}

// ErrAppDown is an app whose container is not running or has no address.
var ErrAppDown = errors.New("not running")

// App resolves user's web app label of container name to the address to
// dial: the container's host-side address (as for ssh -J), never one the
// container claims. fold matches the name regardless of case (a host
// name's part), and only when exactly one of user's containers matches.
// ErrNoSuch: no such container or app of user's.
func (s *Service) App(ctx context.Context, user, name, label string, fold bool) (string, error) {
	r, err := s.lookup(ctx, user, name)
	if errors.Is(err, ErrNoSuch) && fold {
		r, err = s.lookupFold(ctx, user, name)
	}
	if err != nil {
		return "", err
	}
	ports, err := s.portsOf(ctx, r.ID)
	if err != nil {
		return "", err
	}
	port := 0
	for _, p := range ports[r.ID] {
		if p.Web && p.Service == label {
			port = p.ContainerPort
		}
	}
	if port == 0 || r.State != store.StateReady {
		return "", errorf(ErrNoSuch, name, "%s has no web app %q", name, label)
	}
	in, err := s.lxd.Get(ctx, s.Project(user), r.Name)
	if err != nil {
		return "", fmt.Errorf("app %s of %s: %w", label, r.Name, err)
	}
	if !in.Running || in.IPv4 == "" {
		return "", fmt.Errorf("%s is %w: 'ssh GATEWAY start %s' first", r.Name, ErrAppDown, r.Name)
	}
	return fmt.Sprintf("%s:%d", in.IPv4, port), nil
}

// lookupFold finds user's one container whose name is name regardless of case.
func (s *Service) lookupFold(ctx context.Context, user, name string) (row, error) {
	rs, err := s.rows(ctx, user)
	if err != nil {
		return row{}, err
	}
	var found []row
	for _, r := range rs {
		if strings.EqualFold(r.Name, name) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return row{}, errorf(ErrNoSuch, name, "no such container %q", name)
	}
	return found[0], nil
}

// AppUse marks a request to user's container name's web app as under
// way; the returned func ends it. Requests under way, and those of the
// last minute, count as use for the idle stop.
func (s *Service) AppUse(user, name string) (done func()) {
	return s.appUse.begin(ref.Ref{Owner: user, Name: name})
}

// appUse counts web app requests by container.
type appUse struct {
	mu   sync.Mutex
	open map[ref.Ref]int
	last map[ref.Ref]time.Time
}

// appRecent is how long after its last request an app keeps its
// container in use.
const appRecent = time.Minute

func (u *appUse) begin(r ref.Ref) func() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.open == nil {
		u.open, u.last = map[ref.Ref]int{}, map[ref.Ref]time.Time{}
	}
	u.open[r]++
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			if u.open[r]--; u.open[r] <= 0 {
				delete(u.open, r)
			}
			u.last[r] = time.Now()
		})
	}
}

// active is 1 when r's apps are in use (a request under way, or one in
// the last minute), else 0: what the idle stop adds to its sessions.
func (u *appUse) active(r ref.Ref) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.open[r] > 0 {
		return 1
	}
	if t, ok := u.last[r]; ok {
		if time.Since(t) < appRecent {
			return 1
		}
		delete(u.last, r)
	}
	return 0
}
