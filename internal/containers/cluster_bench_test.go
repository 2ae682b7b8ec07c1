package containers

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
)

// The cluster benchmarks run the service over the fake LXD at the scale
// docs/cluster.md is written for: 10 members, 500 containers each (5,000),
// owned by 100 users, each with two configured services (two host ports).
// They measure the gateway's own work (SQLite, bookkeeping); the fake
// answers in memory, so LXD's own time is not in the figures. Each
// benchmark reports the LXD calls one operation makes.
const (
	benchMembers  = 10
	benchPer      = 500 // containers per member
	benchUsers    = 100
	benchServices = 2
)

// countingLXD counts the calls the service makes, by method.
type countingLXD struct {
	*lxdtest.Fake
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingLXD) count(m string) {
	c.mu.Lock()
	c.calls[m]++
	c.mu.Unlock()
}

func (c *countingLXD) reset() {
	c.mu.Lock()
	c.calls = map[string]int{}
	c.mu.Unlock()
}

func (c *countingLXD) report(b *testing.B) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for m, n := range c.calls {
		b.ReportMetric(float64(n)/float64(b.N), "lxd-"+m+"/op")
	}
}

func (c *countingLXD) List(ctx context.Context, project string) ([]lxd.Instance, error) {
	c.count("list")
	return c.Fake.List(ctx, project)
}

func (c *countingLXD) Get(ctx context.Context, project, name string) (lxd.Instance, error) {
	c.count("get")
	return c.Fake.Get(ctx, project, name)
}

func (c *countingLXD) SetConfig(ctx context.Context, project, name string, kv map[string]string) error {
	c.count("setconfig")
	return c.Fake.SetConfig(ctx, project, name, kv)
}

func (c *countingLXD) SecureNIC(ctx context.Context, project, name string) error {
	c.count("securenic")
	return c.Fake.SecureNIC(ctx, project, name)
}

func (c *countingLXD) Members(ctx context.Context) ([]lxd.Member, error) {
	c.count("members")
	return c.Fake.Members(ctx)
}

func (c *countingLXD) MemberResources(ctx context.Context, member string) (lxd.Resources, error) {
	c.count("resources")
	return c.Fake.MemberResources(ctx, member)
}

func benchUser(u int) string       { return fmt.Sprintf("user%03d", u) }
func benchMember(m int) string     { return fmt.Sprintf("member%02d", m+1) }
func benchSubnet(m int) string     { return fmt.Sprintf("10.200.%d.0/23", 2*m) }
func benchAddr(m, i int) string    { return fmt.Sprintf("10.200.%d.%d", 2*m+(i+2)/256, (i+2)%256) }
func benchHostPort(i, j int) int   { return 20000 + benchServices*i + j }
func benchService(j int) string    { return []string{"http", "ssh"}[j] }
func benchCPort(j int) int         { return []int{8080, 22}[j] }
func benchName(i int) string       { return fmt.Sprintf("box%04d", i) }
func benchOwner(i int) int         { return i % benchUsers }
func benchMemberOf(i int) int      { return i % benchMembers }
func benchIndexOnMember(i int) int { return i / benchMembers }

// newBenchCluster fills the fake with 5,000 running containers on routed
// addresses, with their port keys, and the database with their rows and
// ports, as a reconciled gateway has them. With adopt, the rows are left
// out for the caller's Reconcile to adopt.
func newBenchCluster(b *testing.B, adopt bool) (*Service, *countingLXD) {
	b.Helper()
	ctx := context.Background()
	db := storetest.Open(b)
	us := users.New(db)
	for u := 0; u < benchUsers; u++ {
		role := users.RoleUser
		if u == 0 {
			role = users.RoleAdmin
		}
		if _, err := us.Add(ctx, benchUser(u), role, ""); err != nil {
			b.Fatal(err)
		}
	}
	fake := newBenchFake()
	services := map[string]int{}
	for j := 0; j < benchServices; j++ {
		services[benchService(j)] = benchCPort(j)
	}
	l := &countingLXD{Fake: fake, calls: map[string]int{}}
	s := New(db, l, Config{
		DefaultImage: "lxcgate-busybox", CPU: 1, Memory: 256 << 20, Disk: 1 << 30, Prefix: "lxcgate-",
		GPU:      lxd.GPUProfile{Name: "lxcgate-nvidia"},
		Quota:    Quota{Containers: 100, CPU: 100, Memory: 100 << 30, Disk: 1000 << 30, GPUs: 1},
		Services: services, PortFirst: 20000, PortLast: 39999,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	created := time.Unix(1_700_000_000, 0).UTC()
	uids := map[string]store.UserID{}
	for u := 0; u < benchUsers; u++ {
		fake.Projects["lxcgate-"+benchUser(u)] = lxd.Limits{}
		id, err := s.st.Users.ID(ctx, db, benchUser(u))
		if err != nil {
			b.Fatal(err)
		}
		uids[benchUser(u)] = id
	}
	fillBenchInstances(fake, created)
	if adopt {
		return s, l
	}
	if err := insertBenchRows(ctx, db, s, uids, created); err != nil {
		b.Fatal(err)
	}
	return s, l
}

// newBenchFake is the fake LXD as a cluster of benchMembers members, each
// with a routed subnet and its resources.
func newBenchFake() *lxdtest.Fake {
	fake := lxdtest.New()
	for m := 0; m < benchMembers; m++ {
		fake.Cluster = append(fake.Cluster, lxd.Member{Name: benchMember(m), Status: "Online", Online: true,
			Groups: []string{"default"}, SimGPUs: -1, Subnet: benchSubnet(m)})
	}
	fake.Resources = map[string]lxd.Resources{}
	for m := 0; m < benchMembers; m++ {
		fake.Resources[benchMember(m)] = lxd.Resources{MemoryTotal: 512 << 30, MemoryUsed: uint64(100+m) << 30, CPUs: 64}
	}
	return fake
}

// fillBenchInstances puts the running containers into the fake, with their
// routed addresses and port keys.
func fillBenchInstances(fake *lxdtest.Fake, created time.Time) {
	for i := 0; i < benchMembers*benchPer; i++ {
		owner, m := benchUser(benchOwner(i)), benchMemberOf(i)
		addr := benchAddr(m, benchIndexOnMember(i))
		cfg := map[string]string{}
		for j := 0; j < benchServices; j++ {
			cfg[lxd.PortKey(benchService(j))] = strconv.Itoa(benchHostPort(i, j))
			cfg[lxd.ContainerPortKey(benchService(j))] = strconv.Itoa(benchCPort(j))
		}
		fake.Instances["lxcgate-"+owner+"/"+benchName(i)] = &lxd.Instance{Name: benchName(i), Project: "lxcgate-" + owner,
			Running: true, Status: "Running", IPv4: addr, Created: created, CPU: 1, Memory: 256 << 20, Disk: 1 << 30,
			Image: "lxcgate-busybox", Location: benchMember(m), Routed: addr, Config: cfg}
	}
}

// insertBenchRows writes the containers' rows and ports, in one
// transaction, as a reconciled gateway has them.
func insertBenchRows(ctx context.Context, db *sql.DB, s *Service, uids map[string]store.UserID, created time.Time) error {
	return store.Tx(ctx, db, func(q store.Querier) error {
		for i := 0; i < benchMembers*benchPer; i++ {
			id, err := s.st.Containers.Insert(ctx, q, store.Container{UserID: uids[benchUser(benchOwner(i))], Name: benchName(i),
				Image: "lxcgate-busybox", CPU: 1, Memory: 256 << 20, Disk: 1 << 30, State: store.StateReady, Created: created})
			if err != nil {
				return err
			}
			for j := 0; j < benchServices; j++ {
				if err := s.st.Ports.Insert(ctx, q, store.Port{ContainerID: id, Service: benchService(j),
					ContainerPort: benchCPort(j), HostPort: benchHostPort(i, j)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// One steady-state reconcile pass: everything agrees, nothing changes.
func BenchmarkClusterReconcile(b *testing.B) {
	s, l := newBenchCluster(b, false)
	ctx := context.Background()
	if err := s.Reconcile(ctx); err != nil {
		b.Fatal(err)
	}
	l.reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Reconcile(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	l.report(b)
}

// The first reconcile after the database was lost: 5,000 instances
// adopted, with their host ports taken back from their config keys.
func BenchmarkAdoptAfterLostDB(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, l := newBenchCluster(b, true)
		b.StartTimer()
		if err := s.Reconcile(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if rs, _ := s.rows(ctx, ""); len(rs) != benchMembers*benchPer {
			b.Fatalf("%d rows adopted", len(rs))
		}
		if i == b.N-1 {
			l.report(b)
		}
		b.StartTimer()
	}
}

// The port mapper's desired state, asked every ports.reconcile_interval.
func BenchmarkClusterAllMappings(b *testing.B) {
	s, l := newBenchCluster(b, false)
	ctx := context.Background()
	l.reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := s.AllMappings(ctx)
		if err != nil || len(d.Mappings) != benchMembers*benchPer*benchServices {
			b.Fatalf("%d mappings, %v", len(d.Mappings), err)
		}
	}
	b.StopTimer()
	l.report(b)
}

func BenchmarkClusterList(b *testing.B) {
	s, l := newBenchCluster(b, false)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		all  bool
		want int
	}{{"user", false, benchMembers * benchPer / benchUsers}, {"all", true, benchMembers * benchPer}} {
		b.Run(tc.name, func(b *testing.B) {
			l.reset()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cs, err := s.List(ctx, benchUser(7), tc.all)
				if err != nil || len(cs) != tc.want {
					b.Fatalf("%d containers, %v", len(cs), err)
				}
			}
			b.StopTimer()
			l.report(b)
		})
	}
}

// One placement decision over 10 members (by free memory), and the
// routed address a create on the chosen member then takes.
func BenchmarkPlacement(b *testing.B) {
	s, l := newBenchCluster(b, false)
	ctx := context.Background()
	b.Run("place", func(b *testing.B) {
		l.reset()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p, err := s.place(ctx, benchUser(7), CreateRequest{Name: "new"})
			if err != nil || p.Host != benchMember(0) {
				b.Fatalf("%+v %v", p, err)
			}
		}
		b.StopTimer()
		l.report(b)
	})
	b.Run("address", func(b *testing.B) {
		ms, _ := l.Members(ctx)
		l.reset()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a, release, err := s.allocAddress(ctx, ms[0], benchUser(7), "new", 0)
			if err != nil || a != benchAddr(0, benchPer) {
				b.Fatalf("%s %v", a, err)
			}
			release()
		}
		b.StopTimer()
		l.report(b)
	})
}

// BenchmarkClusterSweepItems is what one lease and idle sweep reads of
// 5,000 containers: one LXD list and the rows.
func BenchmarkClusterSweepItems(b *testing.B) {
	s, l := newBenchCluster(b, false)
	ctx := context.Background()
	l.reset()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		items, err := s.SweepItems(ctx)
		if err != nil || len(items) != benchMembers*benchPer {
			b.Fatalf("%d items, %v", len(items), err)
		}
	}
	b.StopTimer()
	l.report(b)
}
