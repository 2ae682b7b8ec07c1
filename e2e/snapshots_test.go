package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSnapshots(t *testing.T) {
	g, prefix := labGW(t, "LXCGATE_SNAPSHOTS_KEEP=2")
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	project := prefix + "alice"
	if r := g.sshKey("alice", alice, "", "launch", "box"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	portsBefore := g.sshKey("alice", alice, "", "ports", "box", "--json").out
	if _, err := lxcExec(project, "box", "echo kept > /root/marker"); err != nil {
		t.Fatal(err)
	}
	r := g.sshKey("alice", alice, "", "snapshot", "box", "base", "--keep")
	if r.code != 0 || strings.TrimSpace(r.out) != "base" {
		t.Fatalf("snapshot: %+v", r)
	}
	lxcExec(project, "box", "echo later > /root/after")

	// bob sees none of it.
	for _, args := range [][]string{{"snapshots", "box"}, {"restore", "box", "base", "--yes"}, {"clone", "box", "base", "mine"}, {"snapshot", "box"}} {
		if r := g.sshKey("bob", bob, "", args...); r.code == 0 || !strings.Contains(r.err, `no such container "box"`) {
			t.Errorf("bob %v: %+v", args, r)
		}
	}

	// restore: the file written after the snapshot is gone, the ports stay.
	if r := g.sshKey("alice", alice, "", "restore", "box", "base"); r.code == 0 || !strings.Contains(r.err, "--yes") {
		t.Fatalf("restore without --yes: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "restore", "box", "base", "--yes"); r.code != 0 {
		t.Fatalf("restore: %+v", r)
	}
	if out, _ := lxcExec(project, "box", "cat /root/marker; ls /root"); !strings.Contains(out, "kept") || strings.Contains(out, "after") {
		t.Fatalf("after restore /root holds: %q", out)
	}
	if cs := g.listJSON("alice", alice); cs[0].State != "running" {
		t.Fatalf("not running after restore: %+v", cs)
	}
	if after := g.sshKey("alice", alice, "", "ports", "box", "--json").out; after != portsBefore {
		t.Fatalf("ports changed by restore: %s -> %s", portsBefore, after)
	}

	// Pruning keeps exactly the limit (2) of unpinned ones, and the pin.
	for _, n := range []string{"s1", "s2", "s3", "s4"} {
		if r := g.sshKey("alice", alice, "", "snapshot", "box", n); r.code != 0 {
			t.Fatalf("snapshot %s: %+v", n, r)
		}
	}
	var snaps []snapshot
	json.Unmarshal([]byte(g.sshKey("alice", alice, "", "snapshots", "box", "--json").out), &snaps)
	var names []string
	for _, s := range snaps {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "base,s3,s4" || !snaps[0].Pinned {
		t.Fatalf("after pruning: %+v", snaps)
	}
	out, _ := lxcAll("info", "box", "--project", project)
	if strings.Contains(out, "s1") || !strings.Contains(out, "s4") {
		t.Fatalf("LXD's snapshots disagree:\n%s", out)
	}

	// clone: boots with the snapshot's content, with ports of its own.
	if r := g.sshKey("alice", alice, "", "clone", "box", "base", "copy"); r.code != 0 {
		t.Fatalf("clone: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "start", "copy"); r.code != 0 {
		t.Fatalf("start clone: %+v", r)
	}
	waitFor(t, "the clone runs", 20*time.Second, func() bool {
		out, err := lxcExec(project, "copy", "cat /root/marker")
		return err == nil && strings.Contains(out, "kept")
	})
	if p := g.sshKey("alice", alice, "", "ports", "copy", "--json").out; p == portsBefore || !strings.Contains(p, "host_port") {
		t.Fatalf("clone ports: %s vs %s", p, portsBefore)
	}

	// Bad input changes nothing.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", "box", "nope", "--yes"}, `no snapshot "nope"`},
		{[]string{"snapshot", "box", "bad/name"}, "snapshot name"},
		{[]string{"snapshot", "box", "s4"}, "already has a snapshot"},
		{[]string{"snapshot", "delete", "box", "nope"}, `no snapshot "nope"`},
		{[]string{"autosnap", "box", "weekly"}, "use daily, hourly or off"},
	} {
		if r := g.sshKey("alice", alice, "", tc.args...); r.code == 0 || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: %+v", tc.args, r)
		}
	}
	// autosnap uses LXD's own schedule.
	if r := g.sshKey("alice", alice, "", "autosnap", "box", "daily", "--expiry", "3d"); r.code != 0 {
		t.Fatalf("autosnap: %+v", r)
	}
	sched, _ := lxcOut("config", "get", "box", "snapshots.schedule", "--project", project)
	exp, _ := lxcOut("config", "get", "box", "snapshots.expiry", "--project", project)
	if strings.TrimSpace(sched) != "@daily" || strings.TrimSpace(exp) != "3d" {
		t.Fatalf("schedule %q expiry %q", sched, exp)
	}
	if r := g.sshKey("alice", alice, "", "snapshot", "delete", "box", "base"); r.code != 0 {
		t.Fatalf("snapshot delete: %+v", r)
	}
}
