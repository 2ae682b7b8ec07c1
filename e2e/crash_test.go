package e2e

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKilledAtEveryStep kills the gateway (SIGKILL, through a failpoint of
// the test build) between two steps of every command that changes state,
// restarts it, and checks what was left: every instance has its row and
// every row its instance, no row is stuck half-made or half-deleted, and
// the chains hold exactly the rules of running containers.
func TestKilledAtEveryStep(t *testing.T) {
	before := othersRules(t)
	g, prefix := portsGW(t, "LXCGATE_QUOTA_CONTAINERS=20", "LXCGATE_QUOTA_CPU=40", "LXCGATE_QUOTA_MEMORY=16GiB",
		"LXCGATE_QUOTA_SNAPSHOTS=40", "LXCGATE_PORTS_RECONCILE_INTERVAL=1h",
		"LXCGATE_QUOTA_VOLUMES=20", "LXCGATE_QUOTA_DISK=100GiB", "LXCGATE_VOLUMES_DEFAULT_SIZE=32MiB")
	t.Cleanup(func() { removeProjects(lxcOut, prefix); removeVolumes(prefix) })
	alice := g.addUser("alice", "alice-password", false)
	project := prefix + "alice"
	base := g.envVars
	run := func(args ...string) {
		t.Helper()
		if r := g.sshKey("alice", alice, "", args...); r.code != 0 {
			t.Fatalf("%s: %+v", strings.Join(args, " "), r)
		}
	}
	starts := 0
	restart := func(failpoint string) {
		t.Helper()
		if g.cmd != nil {
			g.signal(syscall.SIGKILL)
			<-g.exited
		}
		g.envVars = base
		if failpoint != "" {
			g.envVars = append(append([]string{}, base...), "LXCGATE_FAILPOINT="+failpoint)
		}
		g.start()
		starts++
		waitFor(t, "reconciled after a start", 30*time.Second, func() bool {
			return strings.Count(g.logs(), "port mappings reconciled") >= starts
		})
	}
	restart("")
	// An export for the import's steps.
	run("volume", "create", "src")
	tarball := g.sshKey("alice", alice, "", "volume", "export", "src").out
	for _, tc := range crashSteps() {
		for _, s := range tc.setup {
			run(s...)
		}
		restart(tc.failpoint)
		stdin := ""
		if tc.cmd[0] == "volume" && tc.cmd[1] == "import" {
			stdin = tarball
		}
		r := g.sshKey("alice", alice, stdin, tc.cmd...)
		select {
		case <-g.exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the gateway did not stop at its failpoint: %+v", tc.failpoint, r)
		}
		g.cmd = nil
		restart("")
		checkSettled(t, g, project, tc.failpoint)
		checkVolumesSettled(t, g, prefix, tc.failpoint)
	}
	if after := othersRules(t); after != before {
		t.Fatal("rules outside lxcgate's chains changed")
	}
}

// crashStep is a command killed at a failpoint, after its setup commands.
type crashStep struct {
	failpoint string
	setup     [][]string
	cmd       []string
}

// crashSteps are the steps TestKilledAtEveryStep kills the gateway at.
func crashSteps() []crashStep {
	return []crashStep{
		{"create:reserved", nil, []string{"launch", "c1"}},
		{"create:made", nil, []string{"launch", "c2"}},
		{"stop:done", [][]string{{"launch", "c3"}}, []string{"stop", "c3", "--force"}},
		{"start:done", [][]string{{"create", "c4"}}, []string{"start", "c4"}},
		{"restart:done", [][]string{{"launch", "c5"}}, []string{"restart", "c5"}},
		{"delete:marked", [][]string{{"launch", "c6"}}, []string{"delete", "c6", "--force", "--yes"}},
		{"delete:gone", [][]string{{"launch", "c7"}}, []string{"delete", "c7", "--force", "--yes"}},
		{"snapshot:taken", [][]string{{"launch", "c8"}}, []string{"snapshot", "c8", "s1", "--keep"}},
		{"restore:stopped", [][]string{{"launch", "c9"}, {"snapshot", "c9", "s0"}}, []string{"restore", "c9", "s0", "--yes"}},
		{"restore:restored", [][]string{{"launch", "c10"}, {"snapshot", "c10", "s0"}}, []string{"restore", "c10", "s0", "--yes"}},
		{"create:made", [][]string{{"create", "c11"}, {"snapshot", "c11", "s0"}}, []string{"clone", "c11", "s0", "c12"}},
		{"port:reserved", [][]string{{"launch", "c13"}}, []string{"port", "add", "c13", "8080"}},
		{"volume:reserved", nil, []string{"volume", "create", "v1"}},
		{"volume:made", nil, []string{"volume", "create", "v2"}},
		{"volume-attach:recorded", [][]string{{"volume", "create", "v3"}, {"launch", "c14"}}, []string{"volume", "attach", "v3", "c14"}},
		{"volume-attach:made", [][]string{{"volume", "create", "v4"}}, []string{"volume", "attach", "v4", "c14"}},
		{"volume-detach:marked", nil, []string{"volume", "detach", "v4", "c14"}},
		{"volume-detach:removed", [][]string{{"volume", "attach", "v4", "c14", "/v4"}}, []string{"volume", "detach", "v4", "c14"}},
		{"volume-resize:reserved", nil, []string{"volume", "resize", "v4", "48MiB"}},
		{"volume-snapshot:taken", nil, []string{"volume", "snapshot", "v4", "s1", "--keep"}},
		{"volume-delete:marked", [][]string{{"volume", "create", "v5"}}, []string{"volume", "delete", "v5", "--yes"}},
		{"volume-delete:gone", [][]string{{"volume", "create", "v6"}}, []string{"volume", "delete", "v6", "--yes"}},
		{"volume-import:reserved", nil, []string{"volume", "import", "v7"}},
		{"volume-import:made", nil, []string{"volume", "import", "v8"}},
		{"create:made", [][]string{{"volume", "create", "v9"}}, []string{"launch", "c15", "--volume", "v9"}},
		{"delete:gone", [][]string{{"launch", "c16", "--volume", "v9:/w2"}}, []string{"delete", "c16", "--force", "--yes"}},
	}
}

// checkVolumesSettled compares the gateway's volume rows with LXD's
// volumes, and its attachment rows with the instances' volume devices:
// nothing half-made, half-attached or left over.
func checkVolumesSettled(t *testing.T, g *gw, prefix, step string) {
	t.Helper()
	db := openDB(t, g)
	var rows []string
	rs, err := db.Query(`SELECT v.name, v.state FROM volumes v JOIN users u ON u.id = v.user_id WHERE u.name = 'alice' ORDER BY v.name`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var name, state string
		rs.Scan(&name, &state)
		if state != "ready" {
			t.Errorf("after %s: volume %s left in state %q", step, name, state)
		}
		rows = append(rows, prefix+"alice."+name)
	}
	rs.Close()
	lxdHas := lxdVolumes(t, prefix)
	sort.Strings(lxdHas)
	if strings.Join(rows, ",") != strings.Join(lxdHas, ",") {
		t.Fatalf("after %s: volume rows %v, LXD %v", step, rows, lxdHas)
	}
	want := map[string]bool{}
	as, err := db.Query(`SELECT c.name, v.name, a.state FROM volume_attachments a JOIN volumes v ON v.id = a.volume_id
		JOIN containers c ON c.id = a.container_id`)
	if err != nil {
		t.Fatal(err)
	}
	for as.Next() {
		var c, v, state string
		as.Scan(&c, &v, &state)
		if state != "ready" {
			t.Errorf("after %s: attachment of %s to %s left %q", step, v, c, state)
		}
		want[c+"/vol."+v] = true
	}
	as.Close()
	for _, c := range lxdNames(t, prefix+"alice") {
		out := lxc(t, "config", "device", "list", c, "--project", prefix+"alice")
		for _, dev := range strings.Fields(out) {
			if strings.HasPrefix(dev, "vol.") && !want[c+"/"+dev] {
				t.Errorf("after %s: %s has device %s without its row", step, c, dev)
			}
			delete(want, c+"/"+dev)
		}
	}
	if len(want) > 0 {
		t.Errorf("after %s: attachment rows without their devices: %v", step, want)
	}
}

// checkSettled compares the gateway's rows with LXD and its chains.
func checkSettled(t *testing.T, g *gw, project, step string) {
	t.Helper()
	db := openDB(t, g)
	rows, err := db.Query(`SELECT c.name, c.state FROM containers c JOIN users u ON u.id = c.user_id WHERE u.name = 'alice' ORDER BY c.name`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var name, state string
		rows.Scan(&name, &state)
		if state != "ready" {
			t.Errorf("after %s: %s left in state %q", step, name, state)
		}
		names = append(names, name)
	}
	rows.Close()
	sort.Strings(names)
	if lxdHas := lxdNames(t, project); strings.Join(names, ",") != strings.Join(lxdHas, ",") {
		t.Fatalf("after %s: rows %v, LXD %v", step, names, lxdHas)
	}
	var orphans int
	db.QueryRow(`SELECT count(*) FROM ports WHERE container_id NOT IN (SELECT id FROM containers)`).Scan(&orphans)
	if orphans > 0 {
		t.Fatalf("after %s: %d port rows without a container", step, orphans)
	}
	// The chains follow the truth: a container that runs and has its
	// address is mapped within a moment (the watch after a restart).
	waitFor(t, fmt.Sprintf("chains in sync after %s", step), 10*time.Second, func() bool {
		out, _, err := g.lxcgate("", "portmap", "status")
		return err == nil && strings.Contains(out, "in sync")
	})
	out, _ := lxcOut("list", "--project", project, "--format", "csv", "-c", "ns")
	running := strings.Count(out, "RUNNING")
	if dnat := strings.Count(g.natRules(), "alice/"); dnat < running {
		t.Fatalf("after %s: %d running containers, %d rules:\n%s", step, running, dnat, g.natRules())
	}
}

// Scenario: the host rebooted, or the gateway was down while someone ran
// `lxc start`: a container runs but has no address yet when the gateway's
// start-up reconcile passes, and no LXD event will come. It is mapped
// within 2 s of getting its lease all the same, without waiting for the
// periodic reconcile (an hour here).
func TestStartedBehindTheGatewaysBack(t *testing.T) {
	g, prefix := portsGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	if r := g.sshKey("alice", alice, "", "create", "box"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	// DHCP four seconds after boot: the start-up reconcile sees it running
	// without an address.
	push := lxcCmd("file", "push", "-", "box/sbin/init", "--project", prefix+"alice", "--mode", "0755")
	push.Stdin = strings.NewReader("#!/bin/sh\ntrap 'exit 0' PWR TERM INT\nexport PATH=/bin\nip link set lo up\n" +
		"sleep 4\nudhcpc -b -q -i eth0 -s /etc/udhcpc.script >/dev/null 2>&1 &\nwhile :; do sleep 3600 & wait $!; done\n")
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("push init: %v %s", err, out)
	}
	// The first start's reconcile is done before the kill, so that the
	// count below is of the restart's.
	waitFor(t, "the first start-up reconcile", 10*time.Second, func() bool { return strings.Count(g.logs(), "port mappings reconciled") == 1 })
	g.signal(syscall.SIGKILL)
	<-g.exited
	lxc(t, "start", "box", "--project", prefix+"alice")
	g.start()
	waitFor(t, "the start-up reconcile", 10*time.Second, func() bool { return strings.Count(g.logs(), "port mappings reconciled") == 2 })
	if strings.Contains(g.natRules(), "alice/box:ssh") {
		t.Fatal("box had its address before the reconcile; the test proves nothing")
	}
	var leased time.Time
	waitFor(t, "a lease for box", 30*time.Second, func() bool {
		out, _ := lxcOut("network", "list-leases", "lxdbr0", "--project", prefix+"alice", "--format", "csv")
		if strings.Contains(out, "10.166.") && leased.IsZero() {
			leased = time.Now()
		}
		return !leased.IsZero()
	})
	waitFor(t, "box mapped after its lease", 5*time.Second, func() bool { return strings.Contains(g.natRules(), "alice/box:ssh") })
	if took := time.Since(leased); took > 2*time.Second {
		t.Fatalf("mapped %s after the lease", took)
	}
	if strings.Contains(g.logs(), "port mappings repaired") {
		t.Fatal("mapped by a periodic pass, not by the watch")
	}
}
