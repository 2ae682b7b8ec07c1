package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
)

func newService(t *testing.T) (*Service, *lxdtest.Fake, *users.Store) {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	us := users.New(db)
	for _, n := range []string{"alice", "bob"} {
		if _, err := us.Add(ctx, n, users.RoleUser, ""); err != nil {
			t.Fatal(err)
		}
	}
	fake := lxdtest.New()
	s := New(db, fake, Config{
		DefaultImage: "lxcgate-busybox", CPU: 1, Memory: 256 << 20, Disk: 1 << 30, Prefix: "lxcgate-",
		GPU:   lxd.GPUProfile{Name: "lxcgate-nvidia"},
		Quota: Quota{Containers: 2, CPU: 4, Memory: 1 << 30, Disk: 10 << 30, GPUs: 1},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	return s, fake, us
}

func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{
		"dev": true, "box1": true, "a": true, "my-box": true, strings.Repeat("a", 63): true,
		"": false, "1box": false, "-box": false, "box-": false, "my_box": false, "a.b": false,
		strings.Repeat("a", 64): false, "box/../x": false, "bö": false,
	} {
		if err := ValidName(name); (err == nil) != ok {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
	if err := ValidName("my_box"); !strings.Contains(err.Error(), "'_' is not allowed") {
		t.Errorf("underscore message: %v", err)
	}
}

func TestLifecycleAndTenancy(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	var progress []string
	c, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true, Progress: func(p string) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != "running" || c.Owner != "alice" || len(progress) == 0 {
		t.Fatalf("created %+v, progress %v", c, progress)
	}
	if c, _ := s.Get(ctx, "alice", "dev"); c.IPv4 == "" || c.State != "running" {
		t.Fatalf("get: %+v", c)
	}
	// bob has his own dev, and cannot see or touch alice's.
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error { _, err := s.Get(ctx, "bob", "nope"); return err },
		func() error { return s.Stop(ctx, "alice", "other", false) },
		func() error { return s.Delete(ctx, "alice", "other", true) },
	} {
		if err := f(); !errors.Is(err, ErrNoSuch) {
			t.Errorf("foreign/unknown: %v", err)
		}
	}
	list, _ := s.List(ctx, "bob", false)
	if len(list) != 2 || list[0].Owner != "bob" {
		t.Fatalf("bob's list: %+v", list)
	}
	all, _ := s.List(ctx, "alice", true)
	if len(all) != 3 {
		t.Fatalf("list --all: %+v", all)
	}
	if err := s.Start(ctx, "alice", "dev"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("start running: %v", err)
	}
	if err := s.Delete(ctx, "alice", "dev", false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("delete running: %v", err)
	}
	if err := s.Stop(ctx, "alice", "dev", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx, "alice", "dev", false); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("stop stopped: %v", err)
	}
	if err := s.Delete(ctx, "alice", "dev", false); err != nil {
		t.Fatal(err)
	}
	if fake.Count() != 2 {
		t.Fatalf("%d instances left", fake.Count())
	}
}

func TestRefusalsCreateNothing(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	for _, tc := range []struct {
		req  CreateRequest
		want string
	}{
		{CreateRequest{Name: "my_box"}, "'_' is not allowed"},
		{CreateRequest{Name: "ok", Image: "ubuntu:22.04"}, `no image "ubuntu:22.04"`},
		{CreateRequest{Name: "ok", CPU: 5}, "cpu would be 5, your limit is 4"},
		{CreateRequest{Name: "ok", Memory: 2 << 30}, "memory would be 2GiB, your limit is 1GiB"},
		{CreateRequest{Name: "ok", GPU: "all"}, "this host has no GPUs"},
	} {
		_, err := s.Create(ctx, "alice", tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.want)
		}
	}
	s.Create(ctx, "alice", CreateRequest{Name: "a"})
	s.Create(ctx, "alice", CreateRequest{Name: "b"})
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "c"}); !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "containers would be 3, your limit is 2 (in use: 2)") {
		t.Fatalf("containers quota: %v", err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	// A launch whose start fails leaves neither instance nor row.
	fake.FailStart = errors.New("start: boom")
	s.Delete(ctx, "alice", "b", true)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "b", Start: true}); err == nil {
		t.Fatal("failed start reported success")
	}
	if fake.Count() != 1 || len(s.Names(ctx, "alice")) != 1 {
		t.Fatalf("left behind: %d instances, names %v", fake.Count(), s.Names(ctx, "alice"))
	}
}

func TestGPUs(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	fake.HostGPUs = []lxd.GPU{
		{ID: "0", Vendor: "NVIDIA", Model: "H100", PCI: "0000:01:00.0", UUID: "GPU-aaaa"},
		{ID: "1", Vendor: "NVIDIA", Model: "H100", PCI: "0000:02:00.0", UUID: "GPU-bbbb"},
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "two", GPU: "0,1"}); !errors.Is(err, ErrQuota) {
		t.Fatalf("two GPUs over a quota of one: %v", err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "x", GPU: "7"}); err == nil || !strings.Contains(err.Error(), `no GPU "7"`) {
		t.Fatalf("unknown GPU: %v", err)
	}
	c, err := s.Create(ctx, "alice", CreateRequest{Name: "one", GPU: "GPU-bbbb"})
	if err != nil || len(c.GPUs) != 1 {
		t.Fatalf("by UUID: %+v %v", c, err)
	}
	if in := fake.Instances["lxcgate-alice/one"]; len(in.GPUs) != 1 || in.GPUs[0] != "0000:02:00.0" {
		t.Fatalf("device: %+v", in.GPUs)
	}
	gs, _ := s.GPUs(ctx)
	if len(gs[1].Holders) != 1 || gs[1].Holders[0] != "alice/one" || len(gs[0].Holders) != 0 {
		t.Fatalf("holders: %+v", gs)
	}
	s.SetQuota(ctx, "bob", QuotaChange{GPUs: ptr(2)})
	// GPUs are exclusive: bob gets neither alice's GPU nor "all", whatever
	// form he names it in (id, UUID, full or short PCI address).
	for _, tok := range []string{"1", "gpu-BBBB", "0000:02:00.0", "02:00.0", "all"} {
		if _, err := s.Create(ctx, "bob", CreateRequest{Name: "b", GPU: tok}); err == nil || !strings.Contains(err.Error(), "held by another container") {
			t.Fatalf("bob takes alice's GPU as %q: %v", tok, err)
		}
	}
	if c, err := s.Create(ctx, "bob", CreateRequest{Name: "b", GPU: "01:00.0"}); err != nil || c.GPUs[0] != "0000:01:00.0" {
		t.Fatalf("short PCI form: %+v %v", c, err)
	}
	gs, _ = s.GPUs(ctx)
	if len(gs[0].Holders) != 1 || gs[0].Holders[0] != "bob/b" {
		t.Fatalf("holders by the short form: %+v", gs)
	}
	s.Delete(ctx, "bob", "b", true)
	s.conf().SharedGPUs = true
	if c, err := s.Create(ctx, "bob", CreateRequest{Name: "all", GPU: "all"}); err != nil || fake.Instances["lxcgate-bob/all"].GPUs[0] != "all" {
		t.Fatalf("--gpu all, shared: %+v %v", c, err)
	}
	if fake.Profile == nil || fake.Profile.Name != "lxcgate-nvidia" {
		t.Fatal("GPU profile not ensured")
	}
}

func ptr[T any](v T) *T { return &v }

func TestQuotaReachesTheProject(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	s.Create(ctx, "alice", CreateRequest{Name: "a"})
	q, err := s.SetQuota(ctx, "alice", QuotaChange{Containers: ptr(5), Memory: ptr(int64(4 << 30))})
	if err != nil || q.Containers != 5 || q.CPU != 4 {
		t.Fatalf("set: %+v %v", q, err)
	}
	if l := fake.Projects["lxcgate-alice"]; l.Instances != 5 || l.Memory != 4<<30 {
		t.Fatalf("project limits: %+v", l)
	}
	if _, err := s.SetQuota(ctx, "nobody", QuotaChange{CPU: ptr(1)}); err == nil {
		t.Fatal("quota for an unknown user")
	}
}

func TestConcurrentCreatesRespectQuota(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := s.Create(ctx, "alice", CreateRequest{Name: fmt.Sprintf("c%d", i)}); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if ok != 2 || fake.Count() != 2 {
		t.Fatalf("%d creates succeeded, %d instances; quota is 2", ok, fake.Count())
	}
}

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	s.Create(ctx, "alice", CreateRequest{Name: "kept"})
	s.Create(ctx, "alice", CreateRequest{Name: "gone"})
	// Behind the gateway's back: an instance without a row, a row without
	// an instance, an interrupted create and an interrupted delete.
	fake.Instances["lxcgate-bob/adopt"] = &lxd.Instance{Name: "adopt", Project: "lxcgate-bob", CPU: 1, Memory: 1 << 20, Status: "Stopped"}
	delete(fake.Instances, "lxcgate-alice/gone")
	fake.Instances["lxcgate-alice/half"] = &lxd.Instance{Name: "half", Project: "lxcgate-alice", Status: "Stopped"}
	s.db.Exec(`INSERT INTO containers (user_id, name, state, created_at) SELECT id, 'half', 'creating', 0 FROM users WHERE name = 'alice'`)
	s.db.Exec(`UPDATE containers SET state = 'deleting' WHERE name = 'kept'`)
	fake.Instances["lxcgate-nobody/x"] = &lxd.Instance{Name: "x", Project: "lxcgate-nobody"}
	if err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.Names(ctx, "alice"); strings.Join(n, ",") != "half" {
		t.Fatalf("alice: %v", n)
	}
	if n := s.Names(ctx, "bob"); strings.Join(n, ",") != "adopt" {
		t.Fatalf("bob: %v", n)
	}
	if _, ok := fake.Instances["lxcgate-alice/kept"]; ok {
		t.Fatal("interrupted delete not finished")
	}
	if _, ok := fake.Instances["lxcgate-nobody/x"]; !ok {
		t.Fatal("an unknown user's instance was touched")
	}
}

func TestLXDDown(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	fake.Down = true
	_, err := s.Create(ctx, "alice", CreateRequest{Name: "dev"})
	if !errors.Is(err, lxd.ErrUnavailable) {
		t.Fatalf("create while down: %v", err)
	}
	fake.Down = false
	if n := s.Names(ctx, "alice"); len(n) != 0 {
		t.Fatalf("a failed create left %v", n)
	}
}

// Regression: a reconcile at start ran beside an early launch, saw the
// launch's reservation before LXD had the instance, and dropped it.
func TestReconcileWaitsForCreatesInFlight(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	started, release := make(chan struct{}), make(chan struct{})
	s.lxd = slowCreate{Fake: fake, started: started, release: release}
	done := make(chan error, 1)
	go func() { _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev"}); done <- err }()
	<-started
	recon := make(chan error, 1)
	go func() { recon <- s.Reconcile(ctx) }()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-recon; err != nil {
		t.Fatal(err)
	}
	if n := s.Names(ctx, "alice"); len(n) != 1 {
		t.Fatalf("after reconcile: %v", n)
	}
}

type slowCreate struct {
	*lxdtest.Fake
	started, release chan struct{}
}

func (f slowCreate) Create(ctx context.Context, project string, spec lxd.Spec, progress func(string)) error {
	close(f.started)
	<-f.release
	return f.Fake.Create(ctx, project, spec, progress)
}

func newPortService(t *testing.T, first, last int) (*Service, *lxdtest.Fake) {
	s, fake, _ := newService(t)
	s.conf().Services = map[string]int{"ssh": 22, "jupyter": 8888}
	s.conf().PortFirst, s.conf().PortLast = first, last
	s.conf().Quota.Ports = 1
	return s, fake
}

func TestPortsAreStableAndReleased(t *testing.T) {
	ctx := context.Background()
	// A port something on the host listens on is skipped.
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	s, _ := newPortService(t, busy, busy+6)
	var changed []string
	s.conf().OnChange = func(r ref.Ref) { changed = append(changed, r.String()) }
	c, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ports) != 2 || c.Ports[0].Service != "jupyter" || c.Ports[0].HostPort == busy || c.Ports[1].HostPort == busy {
		t.Fatalf("ports: %+v (busy %d)", c.Ports, busy)
	}
	s.Stop(ctx, "alice", "dev", false)
	s.Start(ctx, "alice", "dev")
	again, _ := s.Get(ctx, "alice", "dev")
	if fmt.Sprint(again.Ports) != fmt.Sprint(c.Ports) {
		t.Fatalf("ports changed across a restart: %v -> %v", c.Ports, again.Ports)
	}
	m, _ := s.Mappings(ctx, ref.Ref{Owner: "alice", Name: "dev"})
	if len(m) != 2 || m[0].IP == "" {
		t.Fatalf("mappings of a running container: %+v", m)
	}
	// A user port, capped by quota; configured services cannot be removed.
	p, err := s.PortAdd(ctx, "alice", "dev", 5000, "app")
	if err != nil || p.HostPort == 0 {
		t.Fatalf("port add: %+v %v", p, err)
	}
	if _, err := s.PortAdd(ctx, "alice", "dev", 5001, "app2"); !errors.Is(err, ErrQuota) {
		t.Fatalf("over the port quota: %v", err)
	}
	if _, err := s.PortAdd(ctx, "bob", "dev", 5001, ""); !errors.Is(err, ErrNoSuch) {
		t.Fatalf("port add on a foreign container: %v", err)
	}
	if err := s.PortDel(ctx, "alice", "dev", "ssh"); err == nil || !strings.Contains(err.Error(), "cannot be removed") {
		t.Fatalf("port del ssh: %v", err)
	}
	if err := s.PortDel(ctx, "alice", "dev", "app"); err != nil {
		t.Fatal(err)
	}
	// Deleting the container frees its ports for the next one.
	s.Delete(ctx, "alice", "dev", true)
	c2, err := s.Create(ctx, "bob", CreateRequest{Name: "web"})
	if err != nil || c2.Ports[0].HostPort != c.Ports[0].HostPort {
		t.Fatalf("ports not reused: %+v %v", c2.Ports, err)
	}
	if len(changed) < 4 {
		t.Fatalf("the port mapper heard of %v", changed)
	}
}

func TestPortRangeExhausted(t *testing.T) {
	ctx := context.Background()
	p := freePair(t)
	s, fake := newPortService(t, p, p+1) // room for one container's two services
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "b"}); !errors.Is(err, ErrNoPort) {
		t.Fatalf("exhausted range: %v", err)
	}
	if fake.Count() != 1 || len(s.Names(ctx, "alice")) != 1 {
		t.Fatal("a refused create left something behind")
	}
}

func TestImageAllowlist(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	s.conf().Images = []string{"lxcgate-busybox"}
	imgs, _ := s.Images(ctx)
	if len(imgs) != 1 || imgs[0].Alias != "lxcgate-busybox" {
		t.Fatalf("images: %+v", imgs)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "deb", Image: "lxcgate-debian"}); err == nil || !strings.Contains(err.Error(), "no image") {
		t.Fatalf("image outside the allowlist: %v", err)
	}
}

// The fake satisfies what the service needs, as the real adapter does.
var _ LXD = (*lxdtest.Fake)(nil)

// A reload changes the defaults, caps, allowlist and services of the
// next commands, and nothing that needs a restart.
func TestReconfigure(t *testing.T) {
	ctx := context.Background()
	s, _ := newPortService(t, 31000, 31099)
	next := *s.conf()
	next.Images = []string{"lxcgate-busybox"}
	next.Quota.Containers = 1
	next.MaxCPU = 1
	next.Services = map[string]int{"ssh": 22, "web": 80}
	next.Prefix, next.PortFirst = "other-", 1
	s.Reconfigure(next)
	if c := s.conf(); c.Prefix == "other-" || c.PortFirst == 1 || c.Services["web"] != 80 || len(c.Services) != 2 {
		t.Fatalf("applied: %+v", c)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "big", Image: "lxcgate-busybox", CPU: 2}); err == nil || !strings.Contains(err.Error(), "at most 1") {
		t.Fatalf("new cap: %v", err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "deb", Image: "lxcgate-debian"}); err == nil || !strings.Contains(err.Error(), "no image") {
		t.Fatalf("new allowlist: %v", err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "one", Image: "lxcgate-busybox", CPU: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "two", Image: "lxcgate-busybox", CPU: 1}); !errors.Is(err, ErrQuota) {
		t.Fatalf("new default quota: %v", err)
	}
	next.Services["extra"] = 9 // the caller's map is not shared
	if _, ok := s.conf().Services["extra"]; ok {
		t.Fatal("services map shared with the caller")
	}
}

// freePair finds two free ports in a row: on a busy host the neighbour of
// a free port is often taken.
func freePair(t *testing.T) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		a, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", fmt.Sprintf(":%d", p+1))
		a.Close()
		if err == nil {
			b.Close()
			return p
		}
	}
	t.Fatal("no two free ports in a row")
	return 0
}
