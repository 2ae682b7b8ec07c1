package containers

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"strconv"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
)

func hostPorts(t *testing.T, s *Service, user, name string) map[string]Port {
	t.Helper()
	c, err := s.Get(context.Background(), user, name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Port{}
	for _, p := range c.Ports {
		out[p.Service] = p
	}
	return out
}

// A database lost and made anew (alice added again) gets every container
// back with its owner and the same host ports, read from the instances'
// config keys.
func TestReconcileAfterLostDatabase(t *testing.T) {
	ctx := context.Background()
	s, fake := newPortService(t, 41200, 41260)
	for _, n := range []string{"dev", "box"} {
		if _, err := s.Create(ctx, "alice", CreateRequest{Name: n, Start: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PortAdd(ctx, "alice", "dev", 8080, "web"); err != nil {
		t.Fatal(err)
	}
	before := map[string]map[string]Port{"dev": hostPorts(t, s, "alice", "dev"), "box": hostPorts(t, s, "alice", "box")}
	if len(before["dev"]) != 3 || len(before["box"]) != 2 {
		t.Fatalf("ports before: %+v", before)
	}
	in, _ := fake.Get(ctx, "lxcgate-alice", "dev")
	if in.Config[lxd.PortKey("web")] == "" || in.Config[lxd.ContainerPortKey("web")] != "8080" {
		t.Fatalf("port add kept no key: %v", in.Config)
	}
	// A withdrawn port leaves no key behind.
	if _, err := s.PortAdd(ctx, "alice", "box", 9000, "tmp"); err != nil {
		t.Fatal(err)
	}
	if err := s.PortDel(ctx, "alice", "box", "tmp"); err != nil {
		t.Fatal(err)
	}
	if in, _ := fake.Get(ctx, "lxcgate-alice", "box"); in.Config[lxd.PortKey("tmp")] != "" {
		t.Fatalf("port del left its key: %v", in.Config)
	}

	db := storetest.Open(t)
	us := users.New(db)
	if _, err := us.Add(ctx, "alice", users.RoleUser, ""); err != nil {
		t.Fatal(err)
	}
	s2 := New(db, fake, *s.conf(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"dev", "box"} {
		if got := hostPorts(t, s2, "alice", n); !maps.Equal(got, before[n]) {
			t.Errorf("%s after the database was lost: %+v, want %+v", n, got, before[n])
		}
	}
}

// Services without a key, or whose kept port is taken, get fresh ports;
// a container made before the keys existed gets them at reconcile.
func TestAdoptFallsBackToFreshPorts(t *testing.T) {
	ctx := context.Background()
	s, fake := newPortService(t, 41300, 41360)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	before := hostPorts(t, s, "alice", "dev")
	// Lose the ssh key, and let bob's new container take jupyter's port.
	fake.SetConfig(ctx, "lxcgate-alice", "dev", map[string]string{lxd.PortKey("ssh"): ""})
	db := storetest.Open(t)
	us := users.New(db)
	us.Add(ctx, "bob", users.RoleUser, "")
	s2 := New(db, fake, *s.conf(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	s2.conf().PortFirst = before["jupyter"].HostPort
	if _, err := s2.Create(ctx, "bob", CreateRequest{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if hostPorts(t, s2, "bob", "web")["jupyter"].HostPort != before["jupyter"].HostPort {
		t.Fatalf("bob did not take the port: %+v", hostPorts(t, s2, "bob", "web"))
	}
	us.Add(ctx, "alice", users.RoleUser, "")
	if err := s2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	after := hostPorts(t, s2, "alice", "dev")
	if len(after) != 2 || after["jupyter"].HostPort == before["jupyter"].HostPort || after["jupyter"].ContainerPort != 8888 {
		t.Fatalf("after: %+v, before %+v", after, before)
	}
	// The keys now say what the database says.
	in, _ := fake.Get(ctx, "lxcgate-alice", "dev")
	for svc, p := range after {
		if in.Config[lxd.PortKey(svc)] != itoa(p.HostPort) {
			t.Errorf("key of %s: %q, want %d", svc, in.Config[lxd.PortKey(svc)], p.HostPort)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A clone keeps its own port keys, not its source's added ports.
func TestCloneDropsItsSourcesPortKeys(t *testing.T) {
	ctx := context.Background()
	s, fake := newPortService(t, 41400, 41460)
	s.conf().Quota.Snapshots = 5
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PortAdd(ctx, "alice", "dev", 8080, "web"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TakeSnapshot(ctx, "alice", "dev", "s1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clone(ctx, "alice", "dev", "s1", "dev2", ""); err != nil {
		t.Fatal(err)
	}
	in, _ := fake.Get(ctx, "lxcgate-alice", "dev2")
	want := portKeys(mapValues(hostPorts(t, s, "alice", "dev2")))
	if !maps.Equal(in.Config, want) {
		t.Fatalf("clone's keys: %v, want %v", in.Config, want)
	}
}

func mapValues(m map[string]Port) []Port {
	var out []Port
	for _, p := range m {
		out = append(out, p)
	}
	return out
}
