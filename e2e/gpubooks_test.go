package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// Scenario (issue 19, item 1): LXD's copy keeps every device of the
// source snapshot that the request does not override, and a restore
// brings back the snapshot's devices; lxcgate's books say the container
// holds no GPU, so neither clone nor restore may carry one, and a
// reconcile pass removes a GPU device nobody booked, with an audit row.
func TestGPUDevicesFollowTheBooks(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	admin := g.addUser("boss", "boss-password", true)
	g.start()
	project := prefix + "alice"
	if r := g.sshKey("alice", alice, "", "create", "box"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	addGPU(t, project, "box")
	if r := g.sshKey("alice", alice, "", "snapshot", "box", "withgpu", "--keep"); r.code != 0 {
		t.Fatalf("snapshot: %+v", r)
	}

	// clone: the snapshot's GPU device stays behind.
	if r := g.sshKey("alice", alice, "", "clone", "box", "withgpu", "copy"); r.code != 0 {
		t.Fatalf("clone: %+v", r)
	}
	if got := gpuDevices(t, project, "copy"); got != "" {
		t.Fatalf("the clone carries a GPU device nobody booked: %s", got)
	}
	if r := g.sshKey("alice", alice, "", "start", "copy"); r.code != 0 {
		t.Fatalf("the clone does not start: %+v", r)
	}

	// restore: the snapshot's GPU device does not come back.
	lxc(t, "config", "device", "remove", "box", "gpu0", "--project", project)
	if r := g.sshKey("alice", alice, "", "restore", "box", "withgpu", "--yes"); r.code != 0 {
		t.Fatalf("restore: %+v", r)
	}
	if got := gpuDevices(t, project, "box"); got != "" {
		t.Fatalf("restore brought back a GPU device nobody booked: %s", got)
	}

	// reconcile (at the next start): a device added by hand goes.
	addGPU(t, project, "box")
	g.signal(syscall.SIGTERM)
	<-g.exited
	known := g.known
	g.start()
	g.known = known
	waitFor(t, "the start-up reconcile", 30*time.Second, func() bool { return strings.Count(g.logs(), "containers reconciled with LXD") == 2 })
	if got := gpuDevices(t, project, "box"); got != "" {
		t.Fatalf("the reconcile left a GPU device nobody booked: %s", got)
	}
	if !strings.Contains(g.logs(), `msg="reconcile: removed unbooked GPU devices" component=containers owner=alice name=box`) {
		t.Fatalf("no log line of the repair:\n%s", g.logs())
	}
	a := g.sshKey("boss", admin, "", "audit", "--user", "alice", "--json")
	if !strings.Contains(a.out, "gpus box: removed GPU devices it does not hold: gpu0=0000:01:00.0") {
		t.Fatalf("no audit row of the repair: %+v", a)
	}
}
