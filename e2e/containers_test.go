package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestContainerLifecycle(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()

	r := g.sshKey("alice", alice, "", "launch", "dev")
	if r.code != 0 || !strings.Contains(r.err, "Creating dev") || !strings.Contains(r.err, "Launched dev (10.166.0.") ||
		!regexp.MustCompile(`^ssh -p \d+ ubuntu@\S+\n$`).MatchString(r.out) {
		t.Fatalf("launch: %+v", r)
	}
	if got := lxdNames(t, prefix+"alice"); strings.Join(got, ",") != "dev" {
		t.Fatalf("LXD holds %v", got)
	}
	// launch returned once the address came by DHCP: details right after
	// is complete, and shows the ssh command launch printed.
	if cs := g.listJSON("alice", alice); len(cs) != 1 || cs[0].State != "running" || !strings.HasPrefix(cs[0].IPv4, "10.166.0.") {
		t.Fatalf("dev right after launch: %+v", cs)
	}
	if d := g.sshKey("alice", alice, "", "info", "dev"); d.code != 0 || !strings.Contains(d.out, strings.TrimSpace(r.out)) {
		t.Fatalf("details after launch lacks %q: %+v", r.out, d)
	}
	r = g.sshKey("alice", alice, "", "details", "dev", "--json")
	for _, k := range []string{`"name"`, `"owner": "alice"`, `"state"`, `"ipv4"`, `"image": "lxcgate-busybox"`, `"created"`, `"cpu": 1`, `"memory"`, `"gpus": []`, `"service": "ssh"`, `"container_port": 22`, `"snapshots": 0`} {
		if !strings.Contains(r.out, k) {
			t.Errorf("details --json lacks %s: %s", k, r.out)
		}
	}

	// bob has his own dev and cannot see or touch alice's containers.
	g.sshKey("alice", alice, "", "create", "secret")
	if r := g.sshKey("bob", bob, "", "launch", "dev"); r.code != 0 {
		t.Fatalf("bob launch: %+v", r)
	}
	for _, cmd := range [][]string{{"details", "secret"}, {"stop", "secret"}, {"start", "secret"}, {"delete", "secret", "--yes", "--force"}} {
		r := g.sshKey("bob", bob, "", cmd...)
		if r.code != 1 || !strings.Contains(r.err, `no such container "secret"`) {
			t.Errorf("bob %v: %+v", cmd, r)
		}
	}
	if cs := g.listJSON("bob", bob); len(cs) != 1 || cs[0].Owner != "bob" {
		t.Fatalf("bob sees %+v", cs)
	}

	// Refused requests create nothing.
	before := lxdNames(t, prefix+"alice")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"launch", "my_box"}, "'_' is not allowed"},
		{[]string{"launch", "9lives"}, "invalid container name"},
		{[]string{"launch", "x", "--image", "ubuntu-noble"}, `no image "ubuntu-noble"`},
		{[]string{"launch", "x", "--cpu", "64"}, "cpu would be"},
		{[]string{"launch", "x", "--gpu", "all"}, "this host has no GPUs"},
		{[]string{"launch", "dev"}, `you already have "dev"`},
	} {
		r := g.sshKey("alice", alice, "", tc.args...)
		if r.code == 0 || !strings.Contains(r.err, tc.want) || strings.Count(r.err, "error:") != 1 {
			t.Errorf("%v: %+v (want %q)", tc.args, r, tc.want)
		}
	}
	g.mustLxcgate("", "user", "quota", "alice", "--containers", "2")
	if r := g.sshKey("alice", alice, "", "quota", "--json"); r.code != 0 || !strings.Contains(r.out, `"containers": 2`) {
		t.Fatalf("alice's own quota: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "quota", "bob"); r.code != 1 || !strings.Contains(r.err, "needs the admin role") {
		t.Fatalf("alice reads bob's quota: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "create", "third"); r.code != 1 || !strings.Contains(r.err, "containers would be 3, your limit is 2") {
		t.Fatalf("quota: %+v", r)
	}
	if after := lxdNames(t, prefix+"alice"); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("refusals changed LXD: %v -> %v", before, after)
	}

	// Stop, start, restart, delete.
	for _, step := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"stop", "dev"}, 0, "Stopped dev."},
		{[]string{"stop", "dev"}, 1, "dev is not running"},
		{[]string{"start", "dev"}, 0, "Started dev."},
		{[]string{"restart", "dev"}, 0, "Restarted dev."},
		{[]string{"delete", "dev"}, 1, "add --yes"},
		{[]string{"delete", "dev", "--yes"}, 1, "--force"},
		{[]string{"delete", "dev", "--yes", "--force"}, 0, "Deleted dev."},
		{[]string{"rm", "secret", "--yes", "-f"}, 0, "Deleted secret."},
	} {
		r := g.sshKey("alice", alice, "", step.args...)
		if r.code != step.code || !strings.Contains(r.err, step.want) {
			t.Fatalf("%v: %+v", step.args, r)
		}
	}
	if got := lxdNames(t, prefix+"alice"); len(got) != 0 {
		t.Fatalf("LXD still holds %v", got)
	}
	if got := lxdNames(t, prefix+"bob"); strings.Join(got, ",") != "dev" {
		t.Fatalf("bob's dev: %v", got)
	}
}

// A gateway killed with SIGKILL in the middle of a launch leaves LXD and the
// database in a state the next start reconciles: afterwards every row has
// its instance and every instance its row.
func TestKilledDuringLaunch(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	done := make(chan result, 1)
	go func() {
		done <- runCmd(t, "", "ssh", append(g.sshArgs("alice", "-i", alice, "-o", "BatchMode=yes"), "launch", "half", "--image", "lxcgate-debian")...)
	}()
	// Kill once LXD has the instance, while the launch is still under way.
	deadline := time.Now().Add(20 * time.Second)
	for len(lxdNames(t, prefix+"alice")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the launch never reached LXD")
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.signal(syscall.SIGKILL)
	<-g.exited
	<-done
	g.start()
	// Reconcile runs in the background at start; give it a moment.
	deadline = time.Now().Add(30 * time.Second)
	for {
		var names []string
		for _, c := range g.listJSON("alice", alice) {
			if c.State != "creating" {
				names = append(names, c.Name)
			}
		}
		sort.Strings(names)
		lxdHas := lxdNames(t, prefix+"alice")
		if strings.Join(names, ",") == strings.Join(lxdHas, ",") && strings.Count(g.logs(), "containers reconciled") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway lists %v, LXD holds %v", names, lxdHas)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Whatever survived is alice's to use.
	if cs := g.listJSON("alice", alice); len(cs) == 1 {
		if r := g.sshKey("alice", alice, "", "delete", "half", "--yes", "--force"); r.code != 0 {
			t.Fatalf("delete the survivor: %+v", r)
		}
	}
}

func TestConcurrentLaunches(t *testing.T) {
	g, prefix := labGW(t)
	const n = 20
	keys := make([]string, n)
	for i := range keys {
		keys[i] = g.addUser(fmt.Sprintf("user%02d", i), "password-12345", false)
	}
	g.start()
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range keys {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = runCmd(t, "", "ssh", append(g.sshArgs(fmt.Sprintf("user%02d", i), "-i", keys[i], "-o", "BatchMode=yes"), "launch", "box")...)
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("user%02d: %+v", i, r)
		}
		if got := lxdNames(t, fmt.Sprintf("%suser%02d", prefix, i)); strings.Join(got, ",") != "box" {
			t.Errorf("user%02d holds %v", i, got)
		}
	}
}

// LXD restarting under the gateway: commands fail with a clear message
// meanwhile, and work again without restarting the gateway.
func TestLXDRestart(t *testing.T) {
	g, _ := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	if r := g.sshKey("alice", alice, "", "list"); r.code != 0 {
		t.Fatalf("list: %+v", r)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			exec.Command("../scripts/lab.sh", "up").Run()
		}
	})
	stopLXDDaemon(t)
	r := g.sshKey("alice", alice, "", "images")
	if r.code != 1 || !strings.Contains(r.err, "LXD is not reachable right now") || strings.Count(r.err, "\n") != 1 {
		t.Fatalf("during the outage: %+v", r)
	}
	if out, err := exec.Command("../scripts/lab.sh", "up").CombinedOutput(); err != nil {
		t.Fatalf("lab up: %v %s", err, out)
	}
	restarted = true
	if r := g.sshKey("alice", alice, "", "launch", "back"); r.code != 0 {
		t.Fatalf("after the restart: %+v", r)
	}
}

// stopLXDDaemon ends the lab's LXD daemon with SIGTERM, which leaves its
// instances running (as a package upgrade restarts it). 'lxd shutdown'
// stops every instance first, and with the nested cluster's members and a
// busybox container left by the demo gateway it outlasted its timeout,
// leaving LXD half down for every later test.
func stopLXDDaemon(t *testing.T) {
	t.Helper()
	out, err := exec.Command("pgrep", "-xf", "lxd --group root --logfile /var/log/lxd-lab.log").Output()
	pid, convErr := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || convErr != nil {
		t.Fatalf("the lab's LXD daemon (started by lab.sh) is not running: %v %q", err, out)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to LXD: %v", err)
	}
	waitFor(t, "LXD's daemon to exit", 60*time.Second, func() bool { return syscall.Kill(pid, 0) != nil })
}

// The lab has no GPU: the GPU profile is checked in LXD's own config, and
// --gpu is refused before anything is made (see TestContainerLifecycle).
func TestGPUProfile(t *testing.T) {
	profile := fmt.Sprintf("e2e-gpu-%d", time.Now().UnixNano()%1e6)
	g, _ := labGW(t, "LXCGATE_GPU_PROFILE="+profile, "LXCGATE_GPU_NVIDIA_RUNTIME=true",
		"LXCGATE_GPU_DRIVER_CAPABILITIES=compute,utility")
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	t.Cleanup(func() { lxcOut("profile", "delete", profile) })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(g.logs(), "reconciled") {
		if time.Now().After(deadline) {
			t.Fatalf("never settled:\n%s", g.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := lxcAll("profile", "show", profile)
	if err != nil {
		t.Fatalf("profile: %v %s", err, out)
	}
	for _, want := range []string{"nvidia.runtime: \"true\"", "nvidia.driver.capabilities: compute,utility", "gputype: physical", "type: gpu"} {
		if !strings.Contains(out, want) {
			t.Errorf("profile lacks %q:\n%s", want, out)
		}
	}
	if r := g.sshKey("alice", alice, "", "gpus", "--json"); r.code != 0 || strings.TrimSpace(r.out) != "[]" {
		t.Fatalf("gpus --json on a host without GPUs: %+v", r)
	}
}

// A client that goes away in the middle of a launch leaves no half-made
// container: the gateway waits for LXD and takes it away again, and LXD
// and the gateway agree afterwards.
func TestDroppedConnectionDuringLaunch(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	cmd := exec.Command("ssh", append(g.sshArgs("alice", "-i", alice, "-o", "BatchMode=yes"), "launch", "gone", "--image", "lxcgate-debian")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the launch reached LXD", 20*time.Second, func() bool { return len(lxdNames(t, prefix+"alice")) > 0 })
	cmd.Process.Kill()
	cmd.Wait()
	// Either the launch finished first (kept, owned) or it was rolled back
	// (gone from LXD); never an instance the gateway does not list.
	waitFor(t, "LXD and the gateway agree", 60*time.Second, func() bool {
		var names []string
		for _, c := range g.listJSON("alice", alice) {
			if c.State == "creating" {
				return false
			}
			names = append(names, c.Name)
		}
		return strings.Join(names, ",") == strings.Join(lxdNames(t, prefix+"alice"), ",")
	})
	if len(lxdNames(t, prefix+"alice")) == 0 && !strings.Contains(g.logs(), "cancelled; nothing was kept") {
		t.Fatalf("rolled back without saying so:\n%s", g.logs())
	}
}
