package portmap

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/mapping"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// inNetns runs the calling test again inside a network namespace of its
// own, where it may write real iptables rules: true means "this is that
// run, go on". Without root or ip(8), the test is skipped.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("LXCGATE_BENCH_NETNS") != "" {
		return true
	}
	if os.Getuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	ns := "lxcgate-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "LXCGATE_BENCH_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	return false
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var listedCommentRE = regexp.MustCompile(`--comment "?([^" ]*)"?`)

// natState reads the nat table as iptables prints it: the comments of the
// rules in prefix's block chains by chain, the dispatch rules, the chains.
func natState(t *testing.T, prefix string) (blocks map[string][]string, dispatch []string, chains []string) {
	t.Helper()
	blocks = map[string][]string{}
	blockRE := regexp.MustCompile(`^` + prefix + `-D[0-9]+$`)
	for _, l := range strings.Split(sh(t, "iptables", "-t", "nat", "-S"), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch {
		case f[0] == "-N" && strings.HasPrefix(f[1], prefix+"-"):
			chains = append(chains, f[1])
		case f[0] == "-A" && f[1] == prefix+"-DNAT":
			dispatch = append(dispatch, l)
		case f[0] == "-A" && blockRE.MatchString(f[1]):
			c := ""
			if m := listedCommentRE.FindStringSubmatch(l); m != nil {
				c = m[1]
			}
			blocks[f[1]] = append(blocks[f[1]], c)
		}
	}
	return blocks, dispatch, chains
}

// spread returns n containers of three services, their host ports spread
// over several blocks.
func spread(n int) []mapping.Mapping {
	var out []mapping.Mapping
	for i := 0; i < n; i++ {
		for j, svc := range []string{"ssh", "jupyter", "app"} {
			out = append(out, mapping.Mapping{Owner: "alice", Name: "box" + strconv.Itoa(i), Service: svc,
				HostPort: 20000 + 50*i + j, IP: "10.9.0." + strconv.Itoa(i+2), ContainerPort: []int{22, 8888, 5000}[j]})
		}
	}
	return out
}

// wantBlocks is where each mapping's rule belongs.
func wantBlocks(ms []mapping.Mapping, prefix string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		ch := prefix + "-D" + strconv.Itoa(m.HostPort/blockSize)
		out[ch] = append(out[ch], commentOf(m, "dnat"))
	}
	return out
}

func sameBlocks(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	norm := func(m map[string][]string) string {
		var keys []string
		for k, v := range m {
			v = slices.Clone(v)
			slices.Sort(v)
			keys = append(keys, k+"="+strings.Join(v, ","))
		}
		slices.Sort(keys)
		return strings.Join(keys, "\n")
	}
	if norm(got) != norm(want) {
		t.Fatalf("%s: block chains\n%s\nwant\n%s", what, norm(got), norm(want))
	}
}

// The real backend, through netlink and through the iptables tools alone:
// reconcile from empty, follow a stop, repair whatever was done behind its
// back, move rules of the one-chain layout into blocks, leave another
// gateway's chains alone, flush.
func TestIPTablesBlocks(t *testing.T) {
	if !inNetns(t) {
		return
	}
	for _, noNetlink := range []bool{false, true} {
		t.Run("noNetlink="+strconv.FormatBool(noNetlink), func(t *testing.T) { blocksScenario(t, noNetlink) })
	}
}

// blocksRun is one run of TestIPTablesBlocks: the backend under test, its
// mapper and source, and another gateway's chains as they were.
type blocksRun struct {
	ctx         context.Context
	prefix      string
	noNetlink   bool
	ipt, other  *IPTables
	otherBefore string
	all         []mapping.Mapping
	src         *fakeSource
	m           *Mapper
}

func blocksScenario(t *testing.T, noNetlink bool) {
	r := newBlocksRun(t, noNetlink)
	r.fromEmpty(t)
	r.stopAndStart(t)
	old := r.tamper(t)
	r.repair(t, append(slices.Clone(r.all), old))
	r.flush(t)
}

func newBlocksRun(t *testing.T, noNetlink bool) *blocksRun {
	r := &blocksRun{ctx: context.Background(), prefix: "LXTEST", noNetlink: noNetlink}
	ipt, err := NewIPTables(r.prefix, nil, 20000, 29999)
	if err != nil {
		t.Fatal(err)
	}
	ipt.noNetlink = noNetlink
	r.ipt = ipt
	// Another gateway's chains, which must stay as they are.
	r.other, err = NewIPTables("LXOTHER", nil, 30000, 30099)
	if err != nil {
		t.Fatal(err)
	}
	om := New(r.other, &fakeSource{m: []mapping.Mapping{{Owner: "bob", Name: "x", Service: "ssh", HostPort: 30000, IP: "10.9.1.2", ContainerPort: 22}}}, quiet())
	if _, err := om.Sync(r.ctx); err != nil {
		t.Fatal(err)
	}
	r.otherBefore = sh(t, "iptables", "-t", "nat", "-S", "LXOTHER-D468")
	r.all = spread(5)
	r.src = &fakeSource{m: r.all}
	r.m = New(ipt, r.src, quiet())
	return r
}

// fromEmpty reconciles from empty, then again with nothing to change.
func (r *blocksRun) fromEmpty(t *testing.T) {
	ctx, prefix, m := r.ctx, r.prefix, r.m
	if res, err := m.Sync(ctx); err != nil || res.Added != 15 {
		t.Fatalf("from empty: %+v %v", res, err)
	}
	blocks, dispatch, _ := natState(t, prefix)
	sameBlocks(t, "from empty", blocks, wantBlocks(r.all, prefix))
	if len(dispatch) != len(blocks) {
		t.Fatalf("dispatch rules:\n%s", strings.Join(dispatch, "\n"))
	}
	if res, err := m.Sync(ctx); err != nil || res.Added+res.Removed != 0 {
		t.Fatalf("nothing to change: %+v %v", res, err)
	}
	if !r.noNetlink && !r.ipt.Unchanged() {
		t.Fatal("chains not known unchanged after a reconcile that changed nothing")
	}
}

// stopAndStart: a stop's three rules go, in their blocks; a start puts
// them back.
func (r *blocksRun) stopAndStart(t *testing.T) {
	ctx, prefix, m, all := r.ctx, r.prefix, r.m, r.all
	r.src.set(all[3:]...)
	if res, err := m.SyncOne(ctx, ref.Ref{Owner: "alice", Name: "box0"}); err != nil || res.Removed != 3 {
		t.Fatalf("stop: %+v %v", res, err)
	}
	blocks, _, _ := natState(t, prefix)
	sameBlocks(t, "after a stop", blocks, wantBlocks(all[3:], prefix))
	if !r.noNetlink && !r.ipt.Unchanged() {
		t.Fatal("lxcgate's own deletion counted as a change behind its back")
	}
	// box0's block is empty now: it goes, with its jump, on the next pass
	// that reads the chains (here after someone else's commit).
	sh(t, "iptables", "-N", "SOMEONE-ELSE")
	sh(t, "iptables", "-X", "SOMEONE-ELSE")
	if res, err := m.Sync(ctx); err != nil || res.Added+res.Removed != 0 {
		t.Fatalf("pass after a foreign commit: %+v %v", res, err)
	}
	if blocks, dispatch, chains := natState(t, prefix); len(blocks) != 3 || len(dispatch) != 3 || len(chains) != 4 {
		t.Fatalf("after the pass: chains %v, dispatch:\n%s", chains, strings.Join(dispatch, "\n"))
	}
	r.src.set(all...)
	if res, err := m.SyncOne(ctx, ref.Ref{Owner: "alice", Name: "box0"}); err != nil || res.Added != 3 {
		t.Fatalf("start: %+v %v", res, err)
	}
	if !r.noNetlink && !r.ipt.Unchanged() {
		t.Fatal("lxcgate's own addition counted as a change behind its back")
	}
}

// tamper changes the chains behind the mapper's back: a foreign rule in
// the dispatch chain and in a block, one of ours deleted, one moved to the
// wrong block, an empty block, and a mapping rule of the one-chain layout,
// whose mapping it returns.
func (r *blocksRun) tamper(t *testing.T) mapping.Mapping {
	prefix, all := r.prefix, r.all
	b0 := prefix + "-D" + strconv.Itoa(all[0].HostPort/blockSize)
	b4 := prefix + "-D" + strconv.Itoa(all[12].HostPort/blockSize)
	sh(t, "iptables", "-t", "nat", "-A", prefix+"-DNAT", "-p", "tcp", "--dport", "1", "-j", "ACCEPT")
	sh(t, "iptables", "-t", "nat", "-A", b0, "-p", "tcp", "--dport", "2", "-j", "ACCEPT")
	sh(t, "iptables", "-t", "nat", "-D", b0, "-p", "tcp", "-m", "tcp", "--dport", "20000", "-m", "comment", "--comment", commentOf(all[0], "dnat"),
		"-j", "DNAT", "--to-destination", "10.9.0.2:22")
	sh(t, "iptables", "-t", "nat", "-D", b4, "-p", "tcp", "-m", "tcp", "--dport", "20200", "-m", "comment", "--comment", commentOf(all[12], "dnat"),
		"-j", "DNAT", "--to-destination", "10.9.0.6:22")
	sh(t, "iptables", "-t", "nat", "-A", b0, "-p", "tcp", "-m", "tcp", "--dport", "20200", "-m", "comment", "--comment", commentOf(all[12], "dnat"),
		"-j", "DNAT", "--to-destination", "10.9.0.6:22")
	sh(t, "iptables", "-t", "nat", "-N", prefix+"-D1000")
	old := all[1]
	old.HostPort = 20999
	sh(t, "iptables", "-t", "nat", "-I", prefix+"-DNAT", "-p", "tcp", "-m", "tcp", "--dport", "20999", "-m", "comment", "--comment", commentOf(old, "dnat"),
		"-j", "DNAT", "--to-destination", "10.9.0.2:8888")
	if r.ipt.Unchanged() {
		t.Fatal("changes behind its back not seen")
	}
	return old
}

// repair reconciles to want after tamper, and checks only lxcgate's rules
// stay, each in its block, and the other gateway's chain is untouched.
func (r *blocksRun) repair(t *testing.T, want []mapping.Mapping) {
	ctx, prefix, m := r.ctx, r.prefix, r.m
	r.src.set(want...)
	res, err := m.Sync(ctx)
	if err != nil || res.Added != 3 || res.Removed != 4 { // and the empty block
		t.Fatalf("repair: %+v %v", res, err)
	}
	// A block emptied by the repair goes on the next pass.
	m.Sync(ctx)
	blocks, dispatch, chains := natState(t, prefix)
	sameBlocks(t, "after the repair", blocks, wantBlocks(want, prefix))
	if len(dispatch) != len(blocks) || len(chains) != len(blocks)+1 {
		t.Fatalf("after the repair: chains %v, dispatch:\n%s", chains, strings.Join(dispatch, "\n"))
	}
	for _, d := range dispatch {
		if !strings.Contains(d, "lxcgate:block:") {
			t.Fatalf("a foreign rule stayed in the dispatch chain: %s", d)
		}
	}
	if st, err := m.Check(ctx); err != nil || len(st.Missing)+len(st.Extra) != 0 || len(st.Actual) != len(want) {
		t.Fatalf("status: %+v %v", st, err)
	}
	if got := sh(t, "iptables", "-t", "nat", "-S", "LXOTHER-D468"); got != r.otherBefore {
		t.Fatalf("the other gateway's chain changed:\n%s\nwas\n%s", got, r.otherBefore)
	}
}

// flush removes lxcgate's chains, and only this gateway's.
func (r *blocksRun) flush(t *testing.T) {
	if err := r.ipt.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, _, chains := natState(t, r.prefix); len(chains) != 0 {
		t.Fatalf("chains left after flush: %v", chains)
	}
	if got := sh(t, "iptables", "-t", "nat", "-S", "LXOTHER-D468"); got != r.otherBefore {
		t.Fatalf("flush changed the other gateway's chain:\n%s", got)
	}
	if err := r.other.Flush(); err != nil {
		t.Fatal(err)
	}
}
