package portmap

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/mapping"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// nftComments lists the comments of the map's elements as nft(8) prints
// them, which reads the kernel's objects without lxcgate's code.
func nftComments(t *testing.T, table string) []string {
	t.Helper()
	out, err := exec.Command("nft", "-j", "list", "map", "ip", table, nftMap).CombinedOutput()
	if err != nil {
		return nil
	}
	var cs []string
	for _, m := range regexp.MustCompile(`"comment":\s*"([^"]*)"`).FindAllStringSubmatch(string(out), -1) {
		cs = append(cs, m[1])
	}
	slices.Sort(cs)
	return cs
}

func commentsOf(ms []mapping.Mapping) []string {
	var cs []string
	for _, m := range ms {
		cs = append(cs, commentOf(m, "dnat"))
	}
	slices.Sort(cs)
	return cs
}

// TestNFTablesBackend runs the nftables backend on the real kernel in a
// namespace of its own: the migration from the iptables layout, a
// connection DNATed by the map, repairs, foreign objects left alone, and
// the flush.
func TestNFTablesBackend(t *testing.T) {
	if !inNetns(t) {
		return
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft")
	}
	sh(t, "ip", "link", "set", "lo", "up")
	sh(t, "ip", "addr", "add", "10.77.0.1/32", "dev", "lo")
	sh(t, "ip", "addr", "add", "10.77.0.2/32", "dev", "lo")

	// Someone else's objects: a table, and rules in iptables' nat table.
	sh(t, "nft", "add table ip theirs; add chain ip theirs c { type filter hook input priority 0; }; add rule ip theirs c tcp dport 9 counter")
	sh(t, "iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "9", "-j", "RETURN")
	foreign := func() string {
		a := sh(t, "nft", "list", "table", "ip", "theirs")
		b := sh(t, "iptables", "-t", "nat", "-S", "PREROUTING")
		return a + regexp.MustCompile(`(?m)^.*-j TNF-DNAT\n`).ReplaceAllString(b, "")
	}
	before := foreign()

	// The old layout, as an earlier lxcgate left it.
	old, err := NewIPTables("TNF", nil, 20000, 20099)
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{}
	oldM := New(old, src, quiet())
	src.set(mapping.Mapping{Owner: "alice", Name: "box", Service: "ssh", HostPort: 20001, IP: "10.77.0.2", ContainerPort: 8080})
	if _, err := oldM.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	b, err := NewNFTables("TNF", nil, 20000, 20099)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := New(b, src, quiet())
	if _, err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := sh(t, "iptables", "-t", "nat", "-S"); strings.Contains(out, "TNF-") {
		t.Fatalf("the iptables nat chains stayed after the migration:\n%s", out)
	}
	if out := sh(t, "iptables", "-S", "FORWARD"); !strings.Contains(out, "-j TNF-FWD") {
		t.Fatalf("no FORWARD accept:\n%s", out)
	}
	if got, want := nftComments(t, "tnf"), commentsOf(src.m); !slices.Equal(got, want) {
		t.Fatalf("map after the migration: %v, want %v", got, want)
	}

	// The map DNATs a connection to a local address (OUTPUT) on a host
	// port to the mapped address and port.
	ln, err := net.Listen("tcp", "10.77.0.2:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "container\n")
			c.Close()
		}
	}()
	reach := func(port int) string {
		c, err := net.DialTimeout("tcp", "10.77.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		s, _ := io.ReadAll(c)
		return strings.TrimSpace(string(s))
	}
	if got := reach(20001); got != "container" {
		t.Fatalf("through the map: %q", got)
	}
	// Loopback is never DNATed (it could not reach a bridge anyway).
	if c, err := net.DialTimeout("tcp", "127.0.0.1:20001", time.Second); err == nil {
		c.Close()
		t.Fatal("127.0.0.1:20001 was DNATed")
	}

	// A mapping moves (new address, same host port) in one transaction;
	// another comes, one goes.
	src.set(
		mapping.Mapping{Owner: "alice", Name: "box", Service: "ssh", HostPort: 20001, IP: "10.77.0.2", ContainerPort: 8080},
		mapping.Mapping{Owner: "bob", Name: "b", Service: "ssh", HostPort: 20002, IP: "10.77.0.9", ContainerPort: 22},
	)
	if _, err := m.SyncOne(context.Background(), ref.Ref{Owner: "bob", Name: "b"}); err != nil {
		t.Fatal(err)
	}
	src.set(
		mapping.Mapping{Owner: "alice", Name: "box", Service: "ssh", HostPort: 20001, IP: "10.77.0.3", ContainerPort: 22},
		mapping.Mapping{Owner: "bob", Name: "b", Service: "ssh", HostPort: 20002, IP: "10.77.0.9", ContainerPort: 22},
	)
	if _, err := m.SyncOne(context.Background(), ref.Ref{Owner: "alice", Name: "box"}); err != nil {
		t.Fatal(err)
	}
	if got, want := nftComments(t, "tnf"), commentsOf(src.m); !slices.Equal(got, want) {
		t.Fatalf("map after a move: %v, want %v", got, want)
	}

	// Behind lxcgate's back: an element of someone's, one of lxcgate's
	// gone, a comment that lies about its element, the output chain gone.
	sh(t, "nft", "add element ip tnf ports { 20050 comment \"lxcgate:mallory/x:ssh:20050:10.77.0.2:8080:dnat\" : 10.77.0.2 . 22 }")
	sh(t, "nft", "add element ip tnf ports { 20060 : 10.77.0.2 . 8080 }")
	sh(t, "nft", "delete element ip tnf ports { 20002 }")
	sh(t, "nft", "delete chain ip tnf output")
	if b.Unchanged() {
		t.Fatal("Unchanged after changes behind its back")
	}
	m.ensured = false // as Run does before each pass
	res, err := m.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 1 || res.Removed != 2 {
		t.Fatalf("repair: %+v", res)
	}
	if got, want := nftComments(t, "tnf"), commentsOf(src.m); !slices.Equal(got, want) {
		t.Fatalf("map after the repair: %v, want %v", got, want)
	}
	if !strings.Contains(sh(t, "nft", "list", "chain", "ip", "tnf", "output"), "dnat") {
		t.Fatal("the output chain was not put back")
	}
	// A steady pass reads nothing and changes nothing.
	if !b.Unchanged() {
		t.Fatal("not Unchanged after its own writes")
	}
	if res, err := m.Sync(context.Background()); err != nil || res.Added+res.Removed != 0 {
		t.Fatalf("steady pass: %+v %v", res, err)
	}
	st, err := m.Check(context.Background())
	if err != nil || len(st.Missing)+len(st.Extra) != 0 {
		t.Fatalf("check: %+v %v", st, err)
	}

	if after := foreign(); after != before {
		t.Fatalf("foreign objects changed:\n%s\nwas:\n%s", after, before)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nft", "list", "table", "ip", "tnf").CombinedOutput(); err == nil {
		t.Fatalf("table left after flush:\n%s", out)
	}
	if out := sh(t, "iptables", "-S"); strings.Contains(out, "TNF-") {
		t.Fatalf("iptables chains left after flush:\n%s", out)
	}
	if after := foreign(); after != before {
		t.Fatalf("foreign objects changed by the flush:\n%s\nwas:\n%s", after, before)
	}
}

// TestNFTablesKilledMidTransaction kills a process writing 30,000
// elements at random moments: the kernel applies a transaction whole or
// not at all, and a new mapper reconciles what it finds.
func TestNFTablesKilledMidTransaction(t *testing.T) {
	if os.Getenv("LXCGATE_NFT_WRITER") != "" {
		b, err := NewNFTables("TKILL", nil, 20000, 59999)
		if err != nil {
			t.Fatal(err)
		}
		src := &fakeSource{}
		src.set(lab(10000)...)
		for {
			b.Flush()
			if _, err := New(b, src, quiet()).Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !inNetns(t) {
		return
	}
	want := commentsOf(lab(10000))
	for i := 0; i < 5; i++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestNFTablesKilledMidTransaction$", "-test.count=1")
		cmd.Env = append(os.Environ(), "LXCGATE_NFT_WRITER=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+i*137) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if got := len(nftComments(t, "tkill")); got != 0 && got != len(want) {
			t.Fatalf("after SIGKILL: %d elements, want 0 or %d", got, len(want))
		}
	}
	b, err := NewNFTables("TKILL", nil, 20000, 59999)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	src := &fakeSource{}
	src.set(lab(10000)...)
	if _, err := New(b, src, quiet()).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := nftComments(t, "tkill"); !slices.Equal(got, want) {
		t.Fatalf("after the restart: %d elements, want %d", len(got), len(want))
	}
}

// A mapping's element carries what iptables' rule did: the host port as
// the key, address . port as the data, the comment; and reads back as the
// same rule. A listed element is deleted by its key, else by the port in
// its comment.
func TestNFTablesElements(t *testing.T) {
	m := mapping.Mapping{Owner: "alice", Name: "box", Service: "ssh", HostPort: 20001, IP: "10.166.0.5", ContainerPort: 22}
	r := rulesOf(m)[0]
	e, err := element(r)
	if err != nil {
		t.Fatal(err)
	}
	if port, ip, cport, ok := decodeElement(e); !ok || port != 20001 || ip != "10.166.0.5" || cport != 22 || e.Comment != r.Comment {
		t.Fatalf("element: %d %s %d %v %q", port, ip, cport, ok, e.Comment)
	}
	if len(e.Val) != 8 {
		t.Fatalf("data is %d bytes, want 8 (address . port padded to a register)", len(e.Val))
	}
	if k, ok := key(Rule{Handle: 20001}); !ok || string(k) != string(e.Key) {
		t.Fatalf("key by handle: %v", k)
	}
	if k, ok := key(r); !ok || string(k) != string(e.Key) {
		t.Fatalf("key by comment: %v", k)
	}
	if _, ok := key(Rule{Comment: "not lxcgate's"}); ok {
		t.Fatal("a key for a foreign comment")
	}
	bad := r
	bad.Comment = strings.Replace(r.Comment, "10.166.0.5", "fe80::1", 1)
	if _, err := element(bad); err == nil {
		t.Fatal("an IPv6 address became an element")
	}
	if TableName("") != "lxcgate" || TableName("E2E123") != "e2e123" {
		t.Fatal("table names")
	}
}

// TestRepairedOnForeignCommit: another tool deletes lxcgate's table, or
// its FORWARD jump, long before the periodic pass: the commit's notice
// brings a pass, and both are back within a second.
func TestRepairedOnForeignCommit(t *testing.T) {
	if !inNetns(t) {
		return
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft")
	}
	b, err := NewNFTables("TW", nil, 20000, 20099)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	src := &fakeSource{}
	src.set(mapping.Mapping{Owner: "alice", Name: "box", Service: "ssh", HostPort: 20001, IP: "10.77.0.2", ContainerPort: 22})
	m := New(b, src, quiet())
	if _, err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx, time.Hour)
	time.Sleep(100 * time.Millisecond) // the watch has joined the group
	within := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("%s: not repaired within a second", what)
	}
	sh(t, "nft", "delete", "table", "ip", "tw")
	within("the table deleted", func() bool { return slices.Equal(nftComments(t, "tw"), commentsOf(src.m)) })
	sh(t, "iptables", "-D", "FORWARD", "-j", "TW-FWD")
	within("the FORWARD jump deleted", func() bool {
		return strings.Contains(sh(t, "iptables", "-S", "FORWARD"), "-j TW-FWD")
	})
	// A rule put in front of the jump: the jump goes first again.
	sh(t, "iptables", "-I", "FORWARD", "-j", "DROP")
	within("a rule in front of the jump", func() bool {
		lines := strings.Split(strings.TrimSpace(sh(t, "iptables", "-S", "FORWARD")), "\n")
		return len(lines) > 1 && lines[1] == "-A FORWARD -j TW-FWD"
	})
	cancel()
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
}

// Back from nftables to iptables (backend = "iptables" after "auto"): the
// table goes at the first Ensure, or its stale DNAT would still answer;
// the mappings are in the chains and a connection goes through them.
func TestBackToIPTables(t *testing.T) {
	if !inNetns(t) {
		return
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft")
	}
	sh(t, "ip", "link", "set", "lo", "up")
	sh(t, "ip", "addr", "add", "10.77.0.1/32", "dev", "lo")
	sh(t, "ip", "addr", "add", "10.77.0.2/32", "dev", "lo")
	src := &fakeSource{}
	src.set(mapping.Mapping{Owner: "alice", Name: "box", Service: "ssh", HostPort: 20001, IP: "10.77.0.2", ContainerPort: 8080})
	nft, err := NewNFTables("TBACK", nil, 20000, 20099)
	if err != nil {
		t.Fatal(err)
	}
	defer nft.Close()
	if _, err := New(nft, src, quiet()).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ipt, err := NewIPTables("TBACK", nil, 20000, 20099)
	if err != nil {
		t.Fatal(err)
	}
	src.set(mapping.Mapping{Owner: "alice", Name: "box", Service: "ssh", HostPort: 20001, IP: "10.77.0.2", ContainerPort: 8081})
	if _, err := New(ipt, src, quiet()).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("nft", "list", "table", "ip", "tback").CombinedOutput(); err == nil {
		t.Fatalf("the nftables table stayed:\n%s", out)
	}
	ln, err := net.Listen("tcp", "10.77.0.2:8081")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "moved\n")
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", "10.77.0.1:20001", time.Second)
	if err != nil {
		t.Fatalf("through the chains: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if b, _ := io.ReadAll(c); strings.TrimSpace(string(b)) != "moved" {
		t.Fatalf("through the chains: %q, want the new mapping's answer", b)
	}
	if err := ipt.Flush(); err != nil {
		t.Fatal(err)
	}
}
