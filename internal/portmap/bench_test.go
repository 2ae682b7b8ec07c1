package portmap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/mapping"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// The benchmarks write real iptables rules, so they run only inside a
// network namespace of their own: bench/portmap.sh makes one and sets
// LXCGATE_BENCH_NETNS.
func benchBackend(b *testing.B) *IPTables {
	needNetns(b)
	ipt, err := NewIPTables("", nil, 20000, 59999)
	if err != nil {
		b.Fatal(err)
	}
	return ipt
}

func needNetns(b *testing.B) {
	if os.Getenv("LXCGATE_BENCH_NETNS") == "" {
		b.Skip("run through bench/portmap.sh, inside a network namespace")
	}
}

// benchNFT is the nftables backend, in the same namespace.
func benchNFT(b *testing.B) *NFTables {
	needNetns(b)
	nft, err := NewNFTables("", nil, 20000, 59999)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nft.Flush(); nft.Close() })
	return nft
}

// backendFor is the iptables backend, or nftables' when nft.
func backendFor(b *testing.B, nft bool) Backend {
	if nft {
		return benchNFT(b)
	}
	return benchBackend(b)
}

// lab returns n containers with three services each.
func lab(n int) []mapping.Mapping {
	var out []mapping.Mapping
	for i := 0; i < n; i++ {
		ip := fmt.Sprintf("10.%d.%d.%d", 100+i/65536, i/256%256, i%256)
		for j, svc := range []string{"ssh", "jupyter", "app"} {
			out = append(out, mapping.Mapping{Owner: fmt.Sprintf("user%d", i%50), Name: fmt.Sprintf("box%d", i), Service: svc,
				HostPort: 20000 + 3*i + j, IP: ip, ContainerPort: []int{22, 8888, 5000}[j]})
		}
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func BenchmarkFullReconcileFromEmpty1000x3(b *testing.B)     { fullFromEmpty(b, 1000, false) }
func BenchmarkFullReconcileFromEmpty10000x3(b *testing.B)    { fullFromEmpty(b, 10000, false) }
func BenchmarkNFTFullReconcileFromEmpty1000x3(b *testing.B)  { fullFromEmpty(b, 1000, true) }
func BenchmarkNFTFullReconcileFromEmpty10000x3(b *testing.B) { fullFromEmpty(b, 10000, true) }

func fullFromEmpty(b *testing.B, n int, nft bool) {
	ipt := backendFor(b, nft)
	src := &fakeSource{m: lab(n)}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := ipt.Flush(); err != nil {
			b.Fatal(err)
		}
		m := New(ipt, src, quiet())
		b.StartTimer()
		if res, err := m.Sync(ctx); err != nil || res.Added != 3*n {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

// synced returns a mapper that has written src's rules into the emptied
// chains: the starting point of the benchmarks that change one thing.
func synced(b *testing.B, ipt Backend, src *fakeSource) *Mapper {
	ipt.Flush()
	m := New(ipt, src, quiet())
	if _, err := m.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkReconcileNothingToChange1000x3(b *testing.B)     { nothingToChange(b, 1000, false) }
func BenchmarkReconcileNothingToChange10000x3(b *testing.B)    { nothingToChange(b, 10000, false) }
func BenchmarkNFTReconcileNothingToChange10000x3(b *testing.B) { nothingToChange(b, 10000, true) }

func nothingToChange(b *testing.B, n int, nft bool) {
	ipt := backendFor(b, nft)
	src := &fakeSource{m: lab(n)}
	ctx := context.Background()
	m := synced(b, ipt, src)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, err := m.Sync(ctx); err != nil || res.Added+res.Removed != 0 {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

// toggle maps (start) or unmaps (stop) one container among n, timing
// only the direction asked for.
func toggle(b *testing.B, n int, start bool, perRule bool, noNetlink ...bool) {
	ipt := benchBackend(b)
	ipt.noNetlink = len(noNetlink) > 0 && noNetlink[0]
	toggleOn(b, ipt, n, start, perRule)
}

func toggleOn(b *testing.B, be Backend, n int, start bool, perRule bool) {
	ipt, _ := be.(*IPTables)
	all := lab(n)
	src := &fakeSource{m: all}
	ctx := context.Background()
	m := synced(b, be, src)
	var rules []Rule
	for _, mp := range all[:3] {
		rules = append(rules, rulesOf(mp)...)
	}
	set := func(up, timed bool) {
		if !timed {
			b.StopTimer()
			defer b.StartTimer()
		}
		var err error
		switch {
		case perRule && timed && up:
			err = ipt.ApplyPerRule(nil, rules)
		case perRule && timed:
			err = ipt.ApplyPerRule(rules, nil)
		case up:
			src.set(all...)
			_, err = m.SyncOne(ctx, ref.Ref{Owner: "user0", Name: "box0"})
		default:
			src.set(all[3:]...)
			_, err = m.SyncOne(ctx, ref.Ref{Owner: "user0", Name: "box0"})
		}
		if err != nil {
			b.Fatal(err)
		}
		if perRule && timed {
			b.StopTimer()
			m.actual = nil // the mapper's view is stale now; re-read
			_, err := m.SyncOne(ctx, ref.Ref{Owner: "user0", Name: "box0"})
			b.StartTimer()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set(!start, false) // the opposite state, untimed
		// A kernel that deleted rules frees them after an RCU grace period,
		// and the next iptables process to close its netlink socket before
		// then waits for it: a start within milliseconds of a stop would
		// pay for the stop. Let the grace period pass, untimed.
		b.StopTimer()
		time.Sleep(20 * time.Millisecond)
		b.StartTimer()
		set(start, true)
	}
}

func BenchmarkMapStartedContainerBatched(b *testing.B)   { toggle(b, 1000, true, false) }
func BenchmarkMapStartedContainerPerRule(b *testing.B)   { toggle(b, 1000, true, true) }
func BenchmarkUnmapStoppedContainerBatched(b *testing.B) { toggle(b, 1000, false, false) }
func BenchmarkUnmapStoppedContainerPerRule(b *testing.B) { toggle(b, 1000, false, true) }

// Mapping one container among 10,000 costs what the kernel spends on the
// commit that adds its rules: nf_tables validates the whole nat table from
// each base chain that reaches lxcgate's chains (PREROUTING and OUTPUT),
// all 30,000 rules twice, and each rule's comment match (an xt match)
// doubles that walk. iptables-restore itself takes about 3 ms.
func BenchmarkMapStartedContainer10000x3(b *testing.B)   { toggle(b, 10000, true, false) }
func BenchmarkUnmapStoppedContainer10000x3(b *testing.B) { toggle(b, 10000, false, false) }

// On nftables the same is one element in a hash map, whatever n.
func BenchmarkNFTMapStartedContainer10000x3(b *testing.B) {
	toggleOn(b, benchNFT(b), 10000, true, false)
}
func BenchmarkNFTUnmapStoppedContainer10000x3(b *testing.B) {
	toggleOn(b, benchNFT(b), 10000, false, false)
}

// BenchmarkNFTMemory10000x3 reports what a mapper that holds 10,000 x 3
// mappings on nftables adds to the process over an empty one (after a
// GC), with the desired state it was given.
func BenchmarkNFTMemory10000x3(b *testing.B) {
	nft := benchNFT(b)
	for i := 0; i < b.N; i++ {
		nft.Flush()
		runtime.GC()
		debug.FreeOSMemory()
		empty := New(nft, &fakeSource{}, quiet())
		if _, err := empty.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		before := rssKiB()
		src := &fakeSource{m: lab(10000)}
		m := New(nft, src, quiet())
		if _, err := m.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		debug.FreeOSMemory()
		b.ReportMetric(float64(rssKiB()-before)/1024, "MiB-rss")
		runtime.KeepAlive(m)
		runtime.KeepAlive(empty)
	}
}

// rssKiB is the process's resident set.
func rssKiB() int {
	s, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(s), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// Without netlink: deletions by spec through iptables-restore, as on the
// legacy backend; the comparison for the netlink path.
func BenchmarkUnmapStoppedContainerNoNetlink10000x3(b *testing.B) {
	toggle(b, 10000, false, false, true)
}

// A reconcile after someone else committed to the ruleset (here: a chain
// created or deleted in the filter table, untimed): it reads lxcgate's
// chains again, over netlink or with iptables -S.
func BenchmarkReconcileRereadChains1000x3(b *testing.B)  { reread(b, 1000, false, false) }
func BenchmarkReconcileRereadChains10000x3(b *testing.B) { reread(b, 10000, false, false) }
func BenchmarkReconcileRereadChainsNoNetlink10000x3(b *testing.B) {
	reread(b, 10000, true, false)
}
func BenchmarkNFTReconcileRereadMap10000x3(b *testing.B) { reread(b, 10000, false, true) }

func reread(b *testing.B, n int, noNetlink, nft bool) {
	var ipt unchangedBackend
	var be Backend
	if nft {
		n := benchNFT(b)
		ipt, be = n, n
	} else {
		i := benchBackend(b)
		i.noNetlink = noNetlink
		ipt, be = i, i
	}
	src := &fakeSource{m: lab(n)}
	ctx := context.Background()
	m := synced(b, be, src)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		op := []string{"-N", "-X"}[i%2]
		if out, err := exec.Command("iptables", "-t", "filter", op, "LXBENCH-FOREIGN").CombinedOutput(); err != nil {
			b.Fatalf("%v %s", err, out)
		}
		if ipt.Unchanged() {
			b.Fatal("a foreign commit not seen")
		}
		b.StartTimer()
		if res, err := m.Sync(ctx); err != nil || res.Added+res.Removed != 0 {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.StopTimer()
	exec.Command("iptables", "-t", "filter", "-X", "LXBENCH-FOREIGN").Run()
}

// Per-rule from empty for 100 containers: 600 calls (the 1000-container
// figure is ten times this; measuring it would take minutes).
func BenchmarkFullFromEmptyPerRule100x3(b *testing.B) {
	ipt := benchBackend(b)
	var rules []Rule
	for _, mp := range lab(100) {
		rules = append(rules, rulesOf(mp)...)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ipt.Flush()
		if err := ipt.Ensure(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := ipt.ApplyPerRule(nil, rules); err != nil {
			b.Fatal(err)
		}
	}
}

// Batched from empty for the same 100 containers, for the side-by-side.
func BenchmarkFullFromEmptyBatched100x3(b *testing.B) {
	ipt := benchBackend(b)
	src := &fakeSource{m: lab(100)}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ipt.Flush()
		m := New(ipt, src, quiet())
		b.StartTimer()
		if _, err := m.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
