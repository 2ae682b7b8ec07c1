package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNFTablesOnTheLab moves a gateway from the iptables layout to its own
// nftables table on the real kernel: the mappings survive the move, the
// old nat chains go, a foreign table and foreign rules stay as they were,
// and the published port is reached from the client namespace, also with
// the host's FORWARD policy at DROP.
func TestNFTablesOnTheLab(t *testing.T) {
	g, prefix := portsGW(t, "LXCGATE_PORTS_BACKEND=iptables")
	table := strings.ToLower(g.chains)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	g.must("alice", alice, "", "launch", "box", "--image", "lxcgate-debian")
	hp := g.sshPort("alice", alice, "box")
	waitFor(t, "box mapped by iptables", 30*time.Second, func() bool {
		out, _ := exec.Command("iptables", "-t", "nat", "-S").Output()
		return strings.Contains(string(out), "alice/box:ssh")
	})
	pushKey(t, prefix+"alice", "box", alice)

	// Someone else's: a table of their own and a rule in iptables' nat.
	foreign := "e2eforeign" + strings.TrimPrefix(table, "e2e")
	nft := func(cmd string) {
		t.Helper()
		if out, err := exec.Command("nft", cmd).CombinedOutput(); err != nil {
			t.Fatalf("nft %s: %v %s", cmd, err, out)
		}
	}
	nft("add table ip " + foreign + "; add chain ip " + foreign + " c { type filter hook input priority 10; }; add rule ip " + foreign + " c tcp dport 9 counter")
	t.Cleanup(func() { exec.Command("nft", "delete table ip "+foreign).Run() })
	foreignTable := func() string {
		out, _ := exec.Command("nft", "list", "table", "ip", foreign).Output()
		return string(out)
	}
	beforeTable, beforeRules := foreignTable(), othersRules(t)

	g.signal(syscall.SIGTERM)
	<-g.exited
	g.envVars = append(g.envVars, "LXCGATE_PORTS_BACKEND=auto")
	g.start()
	waitFor(t, "box mapped in table ip "+table, 30*time.Second, func() bool {
		els, ok := nftElements(table)
		return ok && len(els) == 1 && strings.Contains(els[0].comment, "alice/box:ssh") && els[0].port == hp
	})
	if out, _ := exec.Command("iptables", "-t", "nat", "-S").Output(); strings.Contains(string(out), g.chains+"-") {
		t.Fatalf("the iptables nat chains stayed after the move:\n%s", out)
	}
	if !strings.Contains(g.logs(), "removing lxcgate's iptables nat chains") {
		t.Fatalf("the move was not logged:\n%s", g.logs())
	}
	waitFor(t, "ssh through the published port on nftables", 30*time.Second, func() bool {
		r := fromClient(t, alice, hp, "hostname")
		return r.code == 0 && strings.TrimSpace(r.out) == "box"
	})

	// FORWARD at DROP: the accept in lxcgate's FWD chain keeps it working.
	pol, _ := exec.Command("iptables", "-S", "FORWARD").Output()
	policy := "ACCEPT"
	if strings.Contains(string(pol), "-P FORWARD DROP") {
		policy = "DROP"
	}
	if out, err := exec.Command("iptables", "-P", "FORWARD", "DROP").CombinedOutput(); err != nil {
		t.Fatalf("iptables -P FORWARD DROP: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("iptables", "-P", "FORWARD", policy).Run() })
	if r := fromClient(t, alice, hp, "hostname"); r.code != 0 || strings.TrimSpace(r.out) != "box" {
		t.Fatalf("ssh with FORWARD at DROP: %+v", r)
	}
	// Another tool deletes lxcgate's table, then its FORWARD jump, then
	// puts a DROP in front of it (a firewall reload, Docker restarting):
	// the commit's notice brings a repair long before the periodic pass
	// (an hour here), and the port answers again within 2 s.
	for _, breakIt := range [][]string{
		{"nft", "delete", "table", "ip", table},
		{"iptables", "-D", "FORWARD", "-j", g.chains + "-FWD"},
		{"iptables", "-I", "FORWARD", "-p", "tcp", "-j", "DROP"},
	} {
		if out, err := exec.Command(breakIt[0], breakIt[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", breakIt, err, out)
		}
		broke := time.Now()
		waitFor(t, fmt.Sprintf("ssh after %v", breakIt), 5*time.Second, func() bool {
			r := fromClient(t, alice, hp, "hostname")
			return r.code == 0 && strings.TrimSpace(r.out) == "box"
		})
		if d := time.Since(broke); d > 2*time.Second {
			t.Errorf("after %v the port answered only after %v", breakIt, d)
		}
	}
	exec.Command("iptables", "-D", "FORWARD", "-p", "tcp", "-j", "DROP").Run()
	exec.Command("iptables", "-P", "FORWARD", policy).Run()

	// Stop and start: the element goes and comes back, nothing else moves.
	g.must("alice", alice, "", "stop", "box")
	if els, _ := nftElements(table); len(els) != 0 {
		t.Fatalf("elements after stop: %+v", els)
	}
	g.must("alice", alice, "", "start", "box")
	waitFor(t, "box mapped again", 30*time.Second, func() bool {
		els, _ := nftElements(table)
		return len(els) == 1 && els[0].port == hp
	})
	out, errw, err := g.lxcgate("", "portmap", "status")
	if err != nil || !strings.Contains(out, "in sync") {
		t.Fatalf("portmap status: %v\n%s%s", err, out, errw)
	}
	if foreignTable() != beforeTable {
		t.Fatalf("the foreign table changed:\n%s\nwas:\n%s", foreignTable(), beforeTable)
	}
	if after := othersRules(t); after != beforeRules {
		t.Fatalf("rules outside lxcgate's chains changed:\n%s\nwas:\n%s", after, beforeRules)
	}

	// flush removes lxcgate's table and chains, and nothing else.
	g.signal(syscall.SIGTERM)
	<-g.exited
	if _, errw, err := g.lxcgate("", "portmap", "flush"); err != nil {
		t.Fatalf("portmap flush: %v %s", err, errw)
	}
	if _, ok := nftElements(table); ok {
		t.Fatal("table left after flush")
	}
	if left := chainsOf(g.chains); len(left) != 0 {
		t.Fatalf("left after flush: %v", left)
	}
	if foreignTable() != beforeTable {
		t.Fatal("flush changed the foreign table")
	}
}
