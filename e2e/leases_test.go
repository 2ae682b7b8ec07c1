package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Scenario: alice launches with a short lease. When it runs out the
// container is stopped (kept), list says so, start refuses with a hint to
// renew, the gateway's own audit row says why, and her next login's banner
// tells her; after 'renew' it starts again. bob cannot renew it.
func TestLeaseRunsOut(t *testing.T) {
	g, _ := portsGW(t, "LXCGATE_PORTS_RECONCILE_INTERVAL=1s", "LXCGATE_LEASES_MAX=2h")
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	admin := g.addUser("boss", "boss-password", true)
	g.start()
	if r := g.sshKey("alice", alice, "", "launch", "big", "--lease", "3h"); r.code == 0 || !strings.Contains(r.err, "at most 2h") {
		t.Fatalf("a lease over leases.max: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "launch", "box", "--lease", "4s"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	l := g.details("alice", alice, "box")
	if l.Expires == nil || time.Until(*l.Expires) > 5*time.Second || l.Expires.Location() != time.UTC {
		t.Fatalf("expires: %+v", l)
	}
	waitFor(t, "the lease to stop box", 20*time.Second, func() bool {
		l = g.details("alice", alice, "box")
		return l.State == "stopped" && l.Reason == "expired"
	})
	if r := g.sshKey("alice", alice, "", "list"); !strings.Contains(r.out, "EXPIRES") || !strings.Contains(r.out, "expired") {
		t.Fatalf("list: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "start", "box"); r.code == 0 || !strings.Contains(r.err, "'renew box' first") || strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		t.Fatalf("start of an expired container: %+v", r)
	}
	if a := g.sshKey("boss", admin, "", "audit", "--user", "alice", "--json"); !strings.Contains(a.out, "stop box: expired") {
		t.Fatalf("no audit row of the automatic stop: %+v", a)
	}
	if !strings.Contains(g.logs(), `msg=stopped component=sweep owner=alice name=box reason=expired`) {
		t.Fatal("no log line of the automatic stop")
	}
	tt := g.tty("alice", "-i", alice, "-o", "BatchMode=yes")
	tt.expect("box was stopped at")
	tt.expect("its lease ran out ('renew box', then 'start box')")
	tt.send("exit\n")
	tt.wait()

	if r := g.sshKey("bob", bob, "", "renew", "box", "1h"); r.code == 0 || !strings.Contains(r.err, "no such container") {
		t.Fatalf("bob renews alice's box: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "renew", "box", "1h"); r.code != 0 {
		t.Fatalf("renew: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "start", "box"); r.code != 0 {
		t.Fatalf("start after renew: %+v", r)
	}
	if l := g.details("alice", alice, "box"); l.State != "running" || l.Reason != "" || time.Until(*l.Expires) < 59*time.Minute {
		t.Fatalf("after renew: %+v", l)
	}
	// An admin may clear it, a user may not use the admin's command.
	if r := g.sshKey("alice", alice, "", "lease", "box", "none"); r.code == 0 {
		t.Fatalf("a user ran lease: %+v", r)
	}
	if r := g.sshKey("boss", admin, "", "lease", "box", "none", "--user", "alice"); r.code != 0 {
		t.Fatalf("admin lease none: %+v", r)
	}
	if l := g.details("alice", alice, "box"); l.Expires != nil {
		t.Fatalf("lease none: %+v", l)
	}
}

// Scenario: a gateway is down when a lease runs out; it stops the
// container right after it starts again.
func TestDeadlinePassedWhileDown(t *testing.T) {
	g, _ := portsGW(t, "LXCGATE_PORTS_RECONCILE_INTERVAL=1s")
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	if r := g.sshKey("alice", alice, "", "launch", "box", "--lease", "4s"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	g.signal(syscall.SIGTERM)
	<-g.exited
	time.Sleep(5 * time.Second)
	if l := lxdState(t, g, "box"); l != "RUNNING" {
		t.Fatalf("box before the gateway is back: %s", l)
	}
	g.start()
	waitFor(t, "box stopped at start", 15*time.Second, func() bool {
		l := g.details("alice", alice, "box")
		return l.State == "stopped" && l.Reason == "expired"
	})
}

// Scenario: with idle stop on, a container running a busy loop stays, an
// idle one is stopped (with its reason), and traffic through a published
// port or an open ssh -J session keeps an otherwise idle container alive.
func TestIdleStop(t *testing.T) {
	g, prefix := portsGW(t, "LXCGATE_PORTS_RECONCILE_INTERVAL=1s", "LXCGATE_IDLE_STOP_AFTER=15s", "LXCGATE_QUOTA_CONTAINERS=4", "LXCGATE_QUOTA_CPU=4")
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	project := prefix + "alice"
	mustExec := func(name, script string) {
		t.Helper()
		if out, err := lxcExec(project, name, script); err != nil {
			t.Fatalf("%s: %v %s", name, err, out)
		}
	}
	// Each container gets its work right after its launch: the launches
	// together may outlast the idle time on a loaded machine.
	work := map[string]string{
		"busy": "setsid sh -c 'while :; do :; done' >/dev/null 2>&1 </dev/null &",
		"web":  "mkdir -p /www && echo hi > /www/index.html && httpd -p 8080 -h /www",
		// nc ends a connection when its own input ends: give it one that never does.
		"jump": "setsid sh -c 'while :; do tail -f /dev/null | nc -l -p 9000 >/dev/null; done' >/dev/null 2>&1 </dev/null &",
	}
	ports := map[string]string{"web": "8080", "jump": "9000"}
	for _, n := range []string{"busy", "idle", "web", "jump"} {
		if r := g.sshKey("alice", alice, "", "launch", n); r.code != 0 {
			t.Fatalf("launch %s: %+v", n, r)
		}
		if w := work[n]; w != "" {
			mustExec(n, w)
		}
		if p := ports[n]; p != "" {
			if r := g.sshKey("alice", alice, "", "port", "add", n, p); r.code != 0 {
				t.Fatalf("port add: %+v", r)
			}
		}
	}
	var web container
	json.Unmarshal([]byte(g.sshKey("alice", alice, "", "details", "web", "--json").out), &web)
	// An ssh -J session held open to jump:9000 for the whole test, once
	// nc listens there.
	waitFor(t, "nc listening in jump", 10*time.Second, func() bool {
		out, _ := lxcOut("exec", "jump", "--project", project, "--", "netstat", "-ltn")
		return strings.Contains(out, ":9000")
	})
	hold := exec.Command("ssh", g.sshArgs("alice", "-i", alice, "-W", "jump:9000")...)
	stdin, _ := hold.StdinPipe()
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { held <- hold.Wait() }()
	defer func() { stdin.Close(); hold.Process.Kill() }()
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		httpGet(t, hostAddr, web.hostPort(8080)) // published-port traffic, every second
		time.Sleep(time.Second)
		select {
		case err := <-held:
			t.Fatalf("the ssh -W session to jump ended early: %v", err)
		default:
		}
	}
	for name, want := range map[string]string{"busy": "running", "idle": "stopped", "web": "running", "jump": "running"} {
		l := g.details("alice", alice, name)
		if l.State != want {
			t.Errorf("%s is %s, want %s (%+v)", name, l.State, want, l)
		}
		if want == "stopped" && l.Reason != "idle" {
			t.Errorf("%s stopped without the reason idle: %+v", name, l)
		}
	}
	if r := g.sshKey("alice", alice, "", "list"); !strings.Contains(r.out, "REASON") || !strings.Contains(r.out, "idle") {
		t.Fatalf("list: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "start", "idle"); r.code != 0 {
		t.Fatalf("start after an idle stop: %+v", r)
	}
	if l := g.details("alice", alice, "idle"); l.Reason != "" {
		t.Fatalf("the reason stays after a start: %+v", l)
	}
}
