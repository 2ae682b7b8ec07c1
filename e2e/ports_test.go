package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A published port reaches the container from outside, on either bridge,
// follows stops and starts, and goes with an lxc stop behind the gateway's
// back. On lxdbr6 (IPv6 on, two leases per MAC) the container used to get
// no address at all: no DNAT, "has no address yet after 30s".
func TestPublishedSSHPort(t *testing.T) { onLabNets(t, testPublishedSSHPort) }

func testPublishedSSHPort(t *testing.T, n labNet) {
	before := othersRules(t)
	g, prefix := portsGW(t, n.env...)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	if r := g.sshKey("alice", alice, "", "launch", "box", "--image", "lxcgate-debian"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	hp := g.sshPort("alice", alice, "box")
	if hp < portFirst || hp >= portFirst+100 {
		t.Fatalf("host port %d outside the range", hp)
	}
	waitFor(t, "box has an address on "+n.name, 30*time.Second, func() bool {
		cs := g.listJSON("alice", alice)
		return len(cs) == 1 && strings.HasPrefix(cs[0].IPv4, n.subnet)
	})
	project := prefix + "alice"
	pushKey(t, project, "box", alice)

	// From outside, the published port lands in the container, which is
	// named after itself, not after its image (the image's templates).
	waitFor(t, "ssh through the published port", 30*time.Second, func() bool {
		r := fromClient(t, alice, hp, "hostname")
		return r.code == 0 && strings.TrimSpace(r.out) == "box"
	})
	// The connection went through lxcgate's FORWARD accept, which is what
	// keeps it working where the FORWARD policy is DROP. (When another
	// gateway's accept for the same ports comes first in FORWARD, a test
	// running beside this one, that one counts the packets.)
	fwd, _ := exec.Command("iptables", "-L", g.chains+"-FWD", "-v", "-n", "-x").Output()
	if f := strings.Fields(strings.Split(strings.TrimSpace(string(fwd)), "\n")[2]); len(f) < 2 || f[0] == "0" {
		if first := firstForwardJump(t); first == g.chains+"-FWD" {
			t.Fatalf("the forward rule saw no packets:\n%s", fwd)
		} else {
			t.Logf("another gateway's %s comes first in FORWARD; its accept took the packets", first)
		}
	}
	r := g.sshKey("alice", alice, "", "details", "box")
	if !strings.Contains(r.out, fmt.Sprintf("ssh -p %d ubuntu@%s", hp, hostAddr)) {
		t.Fatalf("details lacks the ready command: %+v", r)
	}

	// Stopped: the rule is gone when stop returns, the port no longer
	// answers. Started: the same port again.
	g.sshKey("alice", alice, "", "stop", "box")
	if strings.Contains(g.natRules(), fmt.Sprintf("--dport %d ", hp)) {
		t.Fatalf("rule still there after stop:\n%s", g.natRules())
	}
	if r := fromClient(t, alice, hp, "true"); r.code == 0 {
		t.Fatal("the port still answers after stop")
	}
	g.sshKey("alice", alice, "", "start", "box")
	if got := g.sshPort("alice", alice, "box"); got != hp {
		t.Fatalf("host port changed across stop/start: %d -> %d", hp, got)
	}
	waitFor(t, "the rule back after start", 30*time.Second, func() bool { return strings.Contains(g.natRules(), fmt.Sprintf("--dport %d ", hp)) })
	deadline := time.Now().Add(30 * time.Second)
	for r := fromClient(t, alice, hp, "true"); r.code != 0; r = fromClient(t, alice, hp, "true") {
		if time.Now().After(deadline) {
			addr, _ := lxcOut("list", "box", "--project", project, "-c", "4", "--format", "csv")
			ct, _ := exec.Command("conntrack", "-L", "-p", "tcp", "--orig-port-dst", fmt.Sprint(hp)).CombinedOutput()
			t.Fatalf("ssh after start: %+v\nrules:\n%s\ncontainer: %s\nconntrack:\n%s", r, g.natRules(), addr, ct)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Stopped behind the gateway's back: the rule goes within 2 seconds.
	if out, err := lxcAll("stop", "--force", "box", "--project", project); err != nil {
		t.Fatalf("lxc stop: %v %s", err, out)
	}
	stopped := time.Now()
	waitFor(t, "rule removed after lxc stop", 2*time.Second, func() bool { return !strings.Contains(g.natRules(), fmt.Sprintf("--dport %d ", hp)) })
	t.Logf("rule gone %s after lxc stop", time.Since(stopped).Round(time.Millisecond))

	if after := othersRules(t); after != before {
		t.Fatalf("rules outside lxcgate's chains changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// tamperMappings drops the mappings whose comment holds which and slips
// in one of someone else's, for host port 1, in the gateway's nftables map
// or its iptables chain.
func tamperMappings(t *testing.T, g *gw, which string) {
	t.Helper()
	table := strings.ToLower(g.chains)
	if _, ok := nftElements(table); ok {
		sh := func(cmd string) {
			if out, err := exec.Command("nft", cmd).CombinedOutput(); err != nil {
				t.Fatalf("nft %s: %v %s", cmd, err, out)
			}
		}
		sh("add element ip " + table + " ports { 1 : 10.0.0.1 . 1 }")
		els, _ := nftElements(table)
		for _, e := range els {
			if strings.Contains(e.comment, which) {
				sh(fmt.Sprintf("delete element ip %s ports { %d }", table, e.port))
			}
		}
		return
	}
	exec.Command("iptables", "-t", "nat", "-A", g.chains+"-DNAT", "-p", "tcp", "--dport", "1", "-j", "ACCEPT").Run()
	for _, l := range strings.Split(strings.TrimSpace(g.natRules()), "\n") {
		if strings.Contains(l, which) {
			exec.Command("sh", "-c", "iptables -t nat "+strings.Replace(l, "-A ", "-D ", 1)).Run()
		}
	}
}

// After SIGKILL of the gateway, changes made meanwhile and a new start, the
// chains hold exactly what is true.
func TestMappingsAfterCrash(t *testing.T) {
	before := othersRules(t)
	g, prefix := portsGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	for _, n := range []string{"a", "b", "c"} {
		if r := g.sshKey("alice", alice, "", "launch", n); r.code != 0 {
			t.Fatalf("launch %s: %+v", n, r)
		}
	}
	waitFor(t, "three containers mapped", 30*time.Second, func() bool { return strings.Count(g.natRules(), "-j DNAT") == 3 })
	project := prefix + "alice"

	g.signal(syscall.SIGKILL)
	<-g.exited
	// Meanwhile: a stops, b is deleted, c keeps running, someone drops one
	// of c's rules and slips a rule of their own into lxcgate's chain.
	lxcOut("stop", "--force", "a", "--project", project)
	lxcOut("delete", "--force", "b", "--project", project)
	tamperMappings(t, g, "alice/c:")
	g.start()
	waitFor(t, "reconciled after the restart", 30*time.Second, func() bool { return strings.Count(g.logs(), "port mappings reconciled") == 2 })
	out, errw, err := g.lxcgate("", "portmap", "status")
	if err != nil || !strings.Contains(out, "in sync") {
		t.Fatalf("portmap status: %v\n%s%s", err, out, errw)
	}
	nat := g.natRules()
	if strings.Count(nat, "-j DNAT") != 1 || !strings.Contains(nat, "alice/c:") || strings.Contains(nat, "--dport 1 ") {
		t.Fatalf("chain after the restart:\n%s", nat)
	}
	if after := othersRules(t); after != before {
		t.Fatalf("rules outside lxcgate's chains changed")
	}
	if cs := g.listJSON("alice", alice); len(cs) != 2 {
		t.Fatalf("containers after the restart: %+v", cs)
	}
}

func TestUserPorts(t *testing.T) {
	g, _ := portsGW(t)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	g.sshKey("alice", alice, "", "create", "nb")
	r := g.sshKey("alice", alice, "", "port", "add", "nb", "8888", "--name", "jupyter")
	if r.code != 0 || !strings.Contains(r.err, "http://"+hostAddr+":") {
		t.Fatalf("port add: %+v", r)
	}
	for _, tc := range []struct {
		user, key string
		args      []string
		want      string
	}{
		{"alice", alice, []string{"port", "add", "nb", "8888"}, "already publishes"},
		{"alice", alice, []string{"port", "add", "nb", "99999"}, "use 1-65535"},
		{"alice", alice, []string{"port", "del", "nb", "ssh"}, "cannot be removed"},
		{"bob", bob, []string{"port", "add", "nb", "80"}, `no such container "nb"`},
		{"bob", bob, []string{"ports", "nb"}, `no such container "nb"`},
	} {
		r := g.sshKey(tc.user, tc.key, "", tc.args...)
		if r.code == 0 || !strings.Contains(r.err, tc.want) {
			t.Errorf("%s %v: %+v", tc.user, tc.args, r)
		}
	}
	if r := g.sshKey("alice", alice, "", "port", "del", "nb", "jupyter"); r.code != 0 {
		t.Fatalf("port del: %+v", r)
	}
	// A port added without a label is withdrawn by its number too.
	if r := g.sshKey("alice", alice, "", "port", "add", "nb", "6379"); r.code != 0 {
		t.Fatalf("port add 6379: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "port", "del", "nb", "6379"); r.code != 0 || !strings.Contains(r.err, "Withdrew 6379 from nb.") {
		t.Fatalf("port del 6379: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "ports", "nb"); strings.Contains(r.out, "jupyter") {
		t.Fatalf("still listed: %+v", r)
	}
}
