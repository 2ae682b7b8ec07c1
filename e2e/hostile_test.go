package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Scenario: root in alice's container moves eth0 to a host address (and
// then to bob's container's address), hoping the gateway will publish and
// jump to whatever it claims. The gateway keeps the address the bridge
// leased to the container's MAC, and LXD's filtering drops the spoofed
// traffic; nothing reaches the host's own service.
//
// On both lab bridges: on lxdbr6 the container also has an IPv6 lease,
// which must never stand in for the IPv4 one.
func TestContainerCannotSteerAddresses(t *testing.T) { onLabNets(t, testContainerCannotSteerAddresses) }

func testContainerCannotSteerAddresses(t *testing.T, n labNet) {
	g, prefix := portsGW(t, append([]string{"LXCGATE_PORTS_RECONCILE_INTERVAL=1s"}, n.env...)...)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	// A service bound only on the host's address, which must stay unreachable.
	ln, err := net.Listen("tcp", hostAddr+":8000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reached := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reached <- struct{}{}
			c.Write([]byte("host secret\n"))
			c.Close()
		}
	}()
	for _, u := range []struct{ name, key string }{{"alice", alice}, {"bob", bob}} {
		if r := g.sshKey(u.name, u.key, "", "launch", "box"); r.code != 0 {
			t.Fatalf("launch %s: %+v", u.name, r)
		}
	}
	if r := g.sshKey("alice", alice, "", "port", "add", "box", "8000"); r.code != 0 {
		t.Fatalf("port add: %+v", r)
	}
	var leased, bobIP string
	waitFor(t, "both have addresses", 20*time.Second, func() bool {
		leased, bobIP = g.details("alice", alice, "box").IPv4, g.details("bob", bob, "box").IPv4
		return strings.HasPrefix(leased, n.subnet) && strings.HasPrefix(bobIP, n.subnet)
	})
	cfg := lxc(t, "config", "show", "--expanded", "box", "--project", prefix+"alice")
	if !strings.Contains(cfg, `security.ipv4_filtering: "true"`) || !strings.Contains(cfg, `security.mac_filtering: "true"`) {
		t.Fatalf("the NIC is not filtered:\n%s", cfg)
	}
	for _, claim := range []string{hostAddr, bobIP, n.gw} {
		out, err := lxcExec(prefix+"alice", "box", "ip addr flush dev eth0 && ip addr add "+claim+"/32 dev eth0 && ip -4 addr show eth0")
		if err != nil || !strings.Contains(out, claim) {
			t.Fatalf("claiming %s inside the container: %v %s", claim, err, out)
		}
		// What LXD reads inside now says claim; the gateway must not care.
		time.Sleep(1500 * time.Millisecond) // past a periodic reconcile
		if got := g.details("alice", alice, "box").IPv4; got != leased {
			t.Fatalf("claimed %s: details says %q, want the lease %s", claim, got, leased)
		}
		for _, l := range strings.Split(g.natRules(), "\n") {
			if strings.Contains(l, "alice/box:") && !strings.Contains(l, "--to-destination "+leased+":") {
				t.Fatalf("claimed %s: a rule follows the claim:\n%s", claim, g.natRules())
			}
		}
		if !strings.Contains(g.natRules(), leased+":8000") {
			t.Fatalf("claimed %s: the rule for port 8000 is gone:\n%s", claim, g.natRules())
		}
		r := runCmd(t, "", "ssh", append(g.sshArgs("alice", "-i", alice, "-o", "BatchMode=yes"), "-W", "box:8000")...)
		if strings.Contains(r.out, "host secret") {
			t.Fatalf("claimed %s: -W box:8000 reached the host's service", claim)
		}
	}
	select {
	case <-reached:
		t.Fatal("the host's service was reached")
	default:
	}
	if got := g.details("bob", bob, "box").IPv4; got != bobIP {
		t.Fatalf("bob's address changed: %s -> %s", bobIP, got)
	}
}

// Scenario: a tenant turns the files the gateway reads in their container
// into traps, and chpasswd into a flood or a hang. Each command fails with
// one line within its deadline, the gateway stays small, and the container
// is free for the next command.
func TestContainerFileTraps(t *testing.T) {
	g, prefix := labGW(t, "LXCGATE_CONTAINERS_EXEC_TIMEOUT=3s")
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	if r := g.sshKey("alice", alice, "", "launch", "box"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	project := prefix + "alice"
	sh := func(script string) {
		t.Helper()
		if out, err := lxcExec(project, "box", script); err != nil {
			t.Fatalf("%s: %v %s", script, err, out)
		}
	}
	_, peak0 := g.rss()
	for _, tc := range []struct {
		what, setup string
		cmd         []string
		stdin, want string
	}{
		{"authorized_keys is a FIFO", "mkdir -p /root/.ssh && rm -f /root/.ssh/authorized_keys && mkfifo /root/.ssh/authorized_keys",
			[]string{"key", "box", "--user", "root"}, "", "did not answer"},
		{"authorized_keys is a directory", "rm -f /root/.ssh/authorized_keys && mkdir -p /root/.ssh/authorized_keys",
			[]string{"key", "box", "--user", "root"}, "", "not a regular file"},
		{"chpasswd floods stderr", "printf '#!/bin/sh\\nhead -c 50000000 /dev/zero >&2\\nexit 3\\n' > /bin/chpasswd.x && chmod +x /bin/chpasswd.x && rm -f /usr/sbin/chpasswd /bin/chpasswd /sbin/chpasswd; ln -sf /bin/chpasswd.x /bin/chpasswd",
			[]string{"setpass", "box", "--user", "root", "--stdin"}, "a-long-password\na-long-password\n", "status 3"},
		{"chpasswd hangs", "printf '#!/bin/sh\\nsleep 600\\n' > /bin/chpasswd.x",
			[]string{"setpass", "box", "--user", "root", "--stdin"}, "a-long-password\na-long-password\n", "did not finish within 3s"},
		{"/etc/passwd is a directory", "mv /etc/passwd /etc/passwd.real && mkdir /etc/passwd",
			[]string{"key", "box", "--user", "root"}, "", "not a regular file"},
		{"/etc/passwd is a FIFO", "rmdir /etc/passwd && mkfifo /etc/passwd",
			[]string{"key", "box", "--user", "root"}, "", "did not answer"},
	} {
		sh(tc.setup)
		start := time.Now()
		r := g.sshKey("alice", alice, tc.stdin, tc.cmd...)
		took := time.Since(start)
		if r.code != 1 || !strings.Contains(r.err, tc.want) || strings.Count(r.err, "\n") != 1 || took > 20*time.Second {
			t.Fatalf("%s: %+v after %s; want one line with %q", tc.what, r, took, tc.want)
		}
		// The container is not left held: a command on it runs at once.
		if r := g.sshKey("alice", alice, "", "details", "box"); r.code != 0 {
			t.Fatalf("%s: details afterwards: %+v", tc.what, r)
		}
	}
	if _, peak := g.rss(); peak-peak0 > 48 {
		t.Fatalf("peak RSS grew by %.0f MiB under the traps", peak-peak0)
	}
	// LXD's own file worker must not be stuck on a FIFO (LXD 5.0.2 would
	// then refuse to stop the container, and spin a core after a forced
	// delete): the gateway never opened one through the file API.
	if r := g.sshKey("alice", alice, "", "delete", "box", "--force", "--yes"); r.code != 0 {
		t.Fatalf("delete after the traps: %+v", r)
	}
	out, _ := exec.Command("ps", "-eo", "pcpu=,args=").Output()
	for _, l := range strings.Split(string(out), "\n") {
		var cpu float64
		if strings.Contains(l, "forkfile") && func() bool { fmt.Sscanf(strings.TrimSpace(l), "%f", &cpu); return cpu > 50 }() {
			t.Fatalf("an LXD file worker spins: %s", l)
		}
	}
}

// Scenario: /dev/zero piped into every way the gateway reads a client's
// input: a script, a PTY, and each command that reads stdin, with and
// without credentials (the lobby). Each ends with a bounded read; the
// gateway's peak RSS stays within a few MiB of where it was.
func TestEndlessInput(t *testing.T) {
	g := newGW(t, "LXCGATE_LOBBY_ENABLED=true")
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	_, peak0 := g.rss()
	ssh := strings.Join(g.sshArgs("alice", "-i", alice, "-o", "BatchMode=yes"), " ")
	lobby := strings.Join(g.sshArgs("lab", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no"), " ")
	for _, tc := range []struct{ what, cmd string }{
		{"script", "ssh -T " + ssh},
		{"script to the lobby", "ssh -T " + lobby},
		{"PTY shell", "ssh -tt " + ssh},
		{"keys add", "ssh " + ssh + " keys add"},
		{"passwd --stdin", "ssh " + ssh + " passwd --stdin"},
		{"login --stdin in the lobby", "ssh " + lobby + " login --stdin"},
		{"an exec command that reads nothing", "ssh " + ssh + " whoami"},
	} {
		start := time.Now()
		out, _ := exec.Command("sh", "-c", fmt.Sprintf("head -c 200M /dev/zero | timeout 60 %s; echo status=$?", tc.cmd)).CombinedOutput()
		if strings.Contains(string(out), "status=124") {
			t.Fatalf("%s: still reading after a minute", tc.what)
		}
		now, peak := g.rss()
		t.Logf("%s: %s, RSS %.0f MiB, peak %.0f MiB (start %.0f)", tc.what, time.Since(start).Round(time.Millisecond), now, peak, peak0)
		if peak-peak0 > 32 {
			t.Fatalf("%s: peak RSS grew by %.0f MiB", tc.what, peak-peak0)
		}
	}
	if r := g.sshKey("alice", alice, "", "whoami"); r.code != 0 {
		t.Fatalf("after the floods: %+v", r)
	}
}
