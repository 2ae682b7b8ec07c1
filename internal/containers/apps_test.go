package containers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
)

func newAppService(t *testing.T) (*Service, interface {
	Get(context.Context, string, string) (lxd.Instance, error)
}) {
	s, fake := newPortService(t, 41500, 41560)
	s.conf().Quota.Ports = 2
	s.conf().WebApps = map[string]int{"tensorboard": 6006}
	s.conf().AppURL = func(owner, name, label string) string {
		return "https://apps.test/" + owner + "/" + name + "/" + label + "/"
	}
	return s, fake
}

// A web app takes no host port and no DNAT rule, shows its URL, counts
// against the port quota, resolves only for its owner while the
// container runs, and comes back after the database is lost.
func TestWebApps(t *testing.T) {
	ctx := context.Background()
	s, fake := newAppService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
		t.Fatal(err)
	}
	p, err := s.AddWebApp(ctx, "alice", "dev", 8890, "lab")
	if err != nil || !p.Web || p.HostPort != 0 || p.URL != "https://apps.test/alice/dev/lab/" {
		t.Fatalf("add: %+v %v", p, err)
	}
	for _, tc := range []struct {
		port  int
		label string
		want  string
	}{
		{8891, "Lab2", "lower-case"}, {8891, "a--b", "single '-'"}, {8890, "other", "already publishes"}, {8891, "lab", "already publishes"},
		{0, "x", "1-65535"}, {8891, strings.Repeat("a", 40), "at most 32"},
	} {
		if _, err := s.AddWebApp(ctx, "alice", "dev", tc.port, tc.label); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("add %d %q: %v, want %q", tc.port, tc.label, err, tc.want)
		}
	}
	if _, err := s.AddWebApp(ctx, "alice", "dev", 8892, "lab3"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddWebApp(ctx, "alice", "dev", 8893, "lab4"); !errors.Is(err, ErrQuota) {
		t.Fatalf("over the quota: %v", err)
	}
	if _, err := s.AddWebApp(ctx, "bob", "dev", 8893, "lab4"); !errors.Is(err, ErrNoSuch) {
		t.Fatalf("on a container of nobody's: %v", err)
	}
	c, _ := s.Get(ctx, "alice", "dev")
	web := map[string]Port{}
	for _, p := range c.Ports {
		if p.Web {
			web[p.Service] = p
		}
	}
	if len(web) != 3 || web["tensorboard"].ContainerPort != 6006 || web["tensorboard"].URL == "" {
		t.Fatalf("web apps: %+v", c.Ports)
	}
	m, _ := s.Mappings(ctx, ref.Ref{Owner: "alice", Name: "dev"})
	for _, mp := range m {
		if mp.Service == "lab" || mp.Service == "tensorboard" {
			t.Fatalf("a web app got a DNAT rule: %+v", mp)
		}
	}
	addr, err := s.App(ctx, "alice", "dev", "lab", false)
	if err != nil || !strings.HasSuffix(addr, ":8890") {
		t.Fatalf("resolve: %q %v", addr, err)
	}
	if _, err := s.App(ctx, "alice", "DEV", "lab", true); err != nil {
		t.Fatalf("folded: %v", err)
	}
	for _, tc := range [][3]string{{"bob", "dev", "lab"}, {"alice", "DEV", "lab"}, {"alice", "dev", "ssh"}, {"alice", "dev", "nope"}} {
		if _, err := s.App(ctx, tc[0], tc[1], tc[2], false); !errors.Is(err, ErrNoSuch) {
			t.Errorf("resolve %v: %v", tc, err)
		}
	}
	s.Stop(ctx, "alice", "dev", true)
	if _, err := s.App(ctx, "alice", "dev", "lab", false); !errors.Is(err, ErrAppDown) {
		t.Fatalf("stopped: %v", err)
	}
	// Requests count as use.
	done := s.AppUse("alice", "dev")
	if s.appUse.active(ref.Ref{Owner: "alice", Name: "dev"}) != 1 {
		t.Fatal("a request under way is no use")
	}
	done()
	if s.appUse.active(ref.Ref{Owner: "alice", Name: "dev"}) != 1 {
		t.Fatal("a request of a moment ago is no use")
	}

	// The database lost: the apps come back from the instance's keys.
	db := storetest.Open(t)
	users.New(db).Add(ctx, "alice", users.RoleUser, "")
	s2 := New(db, s.lxd, *s.conf(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	c2, _ := s2.Get(ctx, "alice", "dev")
	n := 0
	for _, p := range c2.Ports {
		if p.Web && (p.Service == "lab" && p.ContainerPort == 8890 || p.Service == "lab3" || p.Service == "tensorboard") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after the database was lost: %+v", c2.Ports)
	}
	_ = fake
	// Withdrawn: gone, key included.
	if err := s2.PortDel(ctx, "alice", "dev", "lab"); err != nil {
		t.Fatal(err)
	}
	if in, _ := fake.Get(ctx, "lxcgate-alice", "dev"); in.Config[lxd.PortKey("lab")] != "" {
		t.Fatalf("key left: %v", in.Config)
	}
	if _, err := s2.App(ctx, "alice", "dev", "lab", false); !errors.Is(err, ErrNoSuch) {
		t.Fatalf("withdrawn app resolves: %v", err)
	}
}

// Without an apps listener, web apps are refused with what to do.
func TestWebAppsOff(t *testing.T) {
	s, _ := newPortService(t, 41600, 41660)
	if _, err := s.Create(context.Background(), "alice", CreateRequest{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddWebApp(context.Background(), "alice", "dev", 8888, "lab"); err == nil || !strings.Contains(err.Error(), "apps_listen") {
		t.Fatalf("apps off: %v", err)
	}
}

// Requests to a container's web apps count as sessions for the idle
// stop while under way and for a minute after.
func TestAppUseKeepsAContainerInUse(t *testing.T) {
	ctx := context.Background()
	s, _ := newAppService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
		t.Fatal(err)
	}
	sessions := func() int {
		items, err := s.SweepItems(ctx)
		if err != nil || len(items) != 1 {
			t.Fatalf("items: %+v %v", items, err)
		}
		return items[0].Sessions
	}
	if n := sessions(); n != 0 {
		t.Fatalf("sessions before any request: %d", n)
	}
	done := s.AppUse("alice", "dev")
	if n := sessions(); n != 1 {
		t.Fatalf("a request under way: %d", n)
	}
	done()
	if n := sessions(); n != 1 {
		t.Fatalf("a request a moment ago: %d", n)
	}
	s.appUse.mu.Lock()
	for r := range s.appUse.last {
		s.appUse.last[r] = s.appUse.last[r].Add(-2 * appRecent)
	}
	s.appUse.mu.Unlock()
	if n := sessions(); n != 0 {
		t.Fatalf("two minutes after: %d", n)
	}
}
