package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLab checks what later tests stand on: bridges without NAT, both
// images launching with an address, named after the instance, with lxcfs
// giving them their own memory, and the client namespace routed through
// the host to both bridges.
func TestLab(t *testing.T) {
	needLab(t)
	if nat := strings.TrimSpace(lxc(t, "network", "get", "lxdbr0", "ipv4.nat")); nat != "false" {
		t.Fatalf("lxdbr0 ipv4.nat = %q; the lab must not NAT", nat)
	}
	// lxdbr6 is LXD's default bridge as far as leases go (IPv6 on), but
	// neither NATs nor routes IPv6: nothing leaves the machine.
	for key, want := range map[string]string{"ipv4.nat": "false", "ipv6.nat": "false", "ipv6.routing": "false", "dns.mode": "none"} {
		if got := strings.TrimSpace(lxc(t, "network", "get", "lxdbr6", key)); got != want {
			t.Fatalf("lxdbr6 %s = %q, want %q", key, got, want)
		}
	}
	if v6 := strings.TrimSpace(lxc(t, "network", "get", "lxdbr6", "ipv6.address")); !strings.HasPrefix(v6, "fd42:") {
		t.Fatalf("lxdbr6 ipv6.address = %q, want a ULA as LXD picks", v6)
	}
	out, err := exec.Command("ip", "netns", "exec", "lxcgate-client", "ip", "route").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "default via 10.177.0.1") {
		t.Fatalf("client namespace route: %v\n%s", err, out)
	}
	for _, n := range labNets {
		t.Run(n.name, func(t *testing.T) { labBusybox(t, n) })
	}
	t.Run("debian", labDebian)
}

// labName is a name for an instance of the lab test's own.
func labName(kind string) string {
	return fmt.Sprintf("e2e-lab-%s-%d", kind, time.Now().UnixNano()%1e6)
}

// labBusybox launches busybox on n: an IPv4 lease on n (and on lxdbr6 an
// IPv6 one for the same MAC, as on LXD's default bridge), reachable from
// the client namespace, its own name, and lxcfs's view of its memory.
func labBusybox(t *testing.T, n labNet) {
	name := labName("bb")
	lxc(t, "launch", "lxcgate-busybox", name, "--network", n.name, "-c", "limits.memory=256MiB")
	t.Cleanup(func() { lxcOut("delete", "--force", name) })
	addr := ""
	waitFor(t, name+" has an address on "+n.name, 20*time.Second, func() bool {
		addr = strings.TrimSpace(lxc(t, "list", name, "-c", "4", "--format", "csv"))
		return strings.HasPrefix(addr, n.subnet)
	})
	addr, _, _ = strings.Cut(addr, " ")
	if n.name == "lxdbr6" {
		mac := strings.TrimSpace(lxc(t, "config", "get", name, "volatile.eth0.hwaddr"))
		var v4, v6 int
		for _, l := range strings.Split(lxc(t, "network", "list-leases", n.name, "--format", "csv"), "\n") {
			if f := strings.Split(l, ","); len(f) >= 4 && strings.EqualFold(f[1], mac) && f[3] == "DYNAMIC" {
				if strings.Contains(f[2], ":") {
					v6++
				} else {
					v4++
				}
			}
		}
		if v4 != 1 || v6 != 1 {
			t.Fatalf("%s's leases on %s: %d IPv4 and %d IPv6, want one each (LXD's default bridge)", name, n.name, v4, v6)
		}
	}
	if out, err := exec.Command("ip", "netns", "exec", "lxcgate-client", "busybox", "ping", "-c", "1", "-W", "3", addr).CombinedOutput(); err != nil {
		t.Fatalf("the client namespace does not reach %s on %s: %v\n%s", addr, n.name, err, out)
	}
	got := lxc(t, "exec", name, "--", "sh", "-c", "hostname; cat /etc/hostname; grep -c \"127.0.1.1.*$(hostname)\" /etc/hosts; head -n 1 /proc/meminfo")
	if f := strings.Fields(got); len(f) < 5 || f[0] != name || f[1] != name || f[2] != "1" || f[4] != "262144" {
		t.Fatalf("%s: hostname, /etc/hostname, /etc/hosts and MemTotal (lxcfs) say:\n%s\nwant %s, %s, 1 and 262144 kB", name, got, name, name)
	}
}

// labDebian: the Debian image's systemd keeps the instance's name, and
// free (procps, as users run it) shows the container's limit, not the host's.
func labDebian(t *testing.T) {
	name := labName("deb")
	lxc(t, "launch", "lxcgate-debian", name, "-c", "limits.memory=512MiB")
	t.Cleanup(func() { lxcOut("delete", "--force", name) })
	if got := strings.TrimSpace(lxc(t, "exec", name, "--", "cat", "/etc/hostname")); got != name {
		t.Fatalf("/etc/hostname = %q, want %q (the image's hostname template)", got, name)
	}
	waitFor(t, "systemd up in "+name, 30*time.Second, func() bool {
		out, _ := lxcOut("exec", name, "--", "systemctl", "is-system-running")
		s := strings.TrimSpace(out)
		return s == "running" || s == "degraded"
	})
	if got := strings.TrimSpace(lxc(t, "exec", name, "--", "hostname")); got != name {
		t.Fatalf("hostname after boot = %q, want %q", got, name)
	}
	free := lxc(t, "exec", name, "--", "free", "-m")
	if f := strings.Fields(strings.SplitN(free, "Mem:", 2)[len(strings.SplitN(free, "Mem:", 2))-1]); len(f) == 0 || f[0] != "512" {
		t.Fatalf("free -m in a 512 MiB container:\n%s\nwant a total of 512 (lxcfs)", free)
	}
}

// The demo gateway's leftovers, as scripts/up.sh leaves them: alice's box
// in the default-prefix project and that gateway's LXCGATE chains.
const demoProject = "lxcgate-alice"

// plantDemo makes what is missing of the demo's leftovers (a box in
// lxcgate-alice; a LXCGATE-DNAT block holding one mapping) and removes
// at the end only what it made. A real demo's leftovers are kept as found.
func plantDemo(t *testing.T) {
	t.Helper()
	if _, err := lxcOut("project", "show", demoProject); err != nil {
		lxc(t, "project", "create", demoProject, "-c", "features.images=false", "-c", "features.profiles=false",
			"-c", "features.storage.volumes=false")
		t.Cleanup(func() { lxcOut("project", "delete", demoProject) })
	}
	if _, err := lxcOut("info", "box", "--project", demoProject); err != nil {
		lxc(t, "init", "lxcgate-busybox", "box", "--project", demoProject, "-c", "user.lxcgate.image=lxcgate-busybox",
			"-c", "user.lxcgate.port.ssh=20000", "-c", "user.lxcgate.cport.ssh=22")
		t.Cleanup(func() { lxcOut("delete", "--force", "box", "--project", demoProject) })
	}
	if exec.Command("iptables", "-t", "nat", "-S", "LXCGATE-DNAT").Run() != nil {
		for _, args := range [][]string{
			{"-N", "LXCGATE-DNAT"}, {"-N", "LXCGATE-D312"},
			{"-A", "LXCGATE-DNAT", "-p", "tcp", "--dport", "19968:20031", "-m", "comment", "--comment", "lxcgate:block:312", "-j", "LXCGATE-D312"},
			{"-A", "LXCGATE-D312", "-p", "tcp", "--dport", "20000", "-m", "comment", "--comment", "lxcgate:demo", "-j", "DNAT", "--to-destination", "10.166.0.99:22"},
		} {
			if out, err := exec.Command("iptables", append([]string{"-t", "nat"}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("iptables %v: %v %s", args, err, out)
			}
		}
		t.Cleanup(func() { flushChains("LXCGATE") })
	}
}

// liveDemoGateway is the pid of a running gateway on the default prefixes
// (the demo's, from scripts/up.sh); test gateways always name their own.
func liveDemoGateway() int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		args := strings.Split(string(cmd), "\x00")
		if len(args) < 2 || filepath.Base(args[0]) != "lxcgate" || !slices.Contains(args, "serve") {
			continue
		}
		env, _ := os.ReadFile("/proc/" + d.Name() + "/environ")
		if !strings.Contains(string(env), "LXCGATE_PORTS_CHAIN_PREFIX=") {
			return pid
		}
	}
	return 0
}

// demoState is what no test gateway may change: the box's configuration,
// the LXCGATE chains' rules and the table ip lxcgate.
func demoState(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "LXCGATE-") {
			rules = append(rules, regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(l, ""))
		}
	}
	table, _ := exec.Command("nft", "list", "table", "ip", "lxcgate").CombinedOutput()
	return lxc(t, "config", "show", "box", "--project", demoProject) + strings.Join(rules, "\n") + string(table)
}

// Scenario (issue 19): scripts/up.sh ran, alice launched box through the
// demo gateway, the gateway was stopped, then the suite ran on the same
// machine. Test gateways adopted lxcgate-alice/box ('user del: alice still
// owns 1 container(s)') and rewrote the LXCGATE chains. Now every test
// gateway has prefixes of its own: alice owns nothing there, deleting her
// works, and the demo's box and chains stay exactly as they were.
func TestDemoLeftoversUntouched(t *testing.T) {
	needLab(t)
	if pid := liveDemoGateway(); pid != 0 {
		// Not the scenario: a demo that runs keeps its own chains and box
		// (its reconcile rewrites what plantDemo would plant).
		t.Skipf("the demo gateway runs (pid %d): its leftovers are its own", pid)
	}
	plantDemo(t)
	before := demoState(t)
	for _, start := range []func(*testing.T) *gw{
		func(t *testing.T) *gw { return newGW(t) },
		func(t *testing.T) *gw { g, _ := portsGW(t); return g },
	} {
		g := start(t)
		root := g.addUser("root1", "root1-password", true)
		alice := g.addUser("alice", "alice-password", false)
		g.start()
		waitFor(t, "the start's port reconcile", 10*time.Second, func() bool {
			return strings.Contains(g.logs(), "port mappings reconciled")
		})
		if cs := g.listJSON("alice", alice); len(cs) != 0 {
			t.Errorf("alice of a test gateway owns the demo's containers: %+v", cs)
		}
		if r := g.sshKey("root1", root, "", "user", "del", "alice"); r.code != 0 {
			t.Errorf("user del alice: %+v", r)
		}
		if g.prefix == "lxcgate-" || g.chains == "LXCGATE" {
			t.Errorf("a test gateway has the default prefixes %q, %q", g.prefix, g.chains)
		}
		g.cmd.Process.Kill()
		<-g.exited
	}
	if after := demoState(t); after != before {
		t.Fatalf("the demo's leftovers changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
