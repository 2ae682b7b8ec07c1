package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Scenario: alice and bob share a 3-member cluster. alice launches on the
// member she names and reaches it over its published port and by ssh -W;
// a launch asking for GPUs lands on the GPU member; bob's launches are
// placed by free memory, then held to the group his quota names; bob can
// reach nothing of alice's on any member; an admin moves alice's stopped
// container to another member, where it is reachable again.
func TestClusterPlacement(t *testing.T) {
	g, keys, prefix := clusterGW(t, 31100)
	alice, bob, admin := keys["alice"], keys["bob"], keys["admin"]
	if r := g.sshKey("alice", alice, "", "hosts"); r.code != 0 || strings.Count(r.out, "online") != 3 {
		t.Fatalf("hosts: %+v", r)
	}
	if rep, code, stderr := g.doctor(); code != 0 {
		t.Fatalf("doctor on the cluster: %d %+v %s", code, rep, stderr)
	} else if st, d := rep.status("member subnets"); st != "ok" || !strings.Contains(d, "member3=10.200.3.128/25") {
		t.Fatalf("doctor's member subnets: %s %q", st, d)
	} else if st, d := rep.status("gpus"); st != "ok" || !strings.Contains(d, "2 GPUs") {
		t.Fatalf("doctor's gpus on the cluster: %s %q", st, d)
	}
	r := g.sshKey("alice", alice, "", "launch", "web", "--host", "member2")
	if r.code != 0 || !strings.Contains(r.err, "Placed on member2: asked for") {
		t.Fatalf("launch --host: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "port", "add", "web", "8080"); r.code != 0 {
		t.Fatalf("port add: %+v", r)
	}
	web := g.details("alice", alice, "web")
	if web.Host != "member2" || !strings.HasPrefix(web.IPv4, "10.200.2.") {
		t.Fatalf("web: %+v", web)
	}
	serveHTTP(t, prefix+"alice", "web", "alice-web")
	waitFor(t, "the published port from the client", 15*time.Second, func() bool {
		return strings.Contains(httpGet(t, hostAddr, web.hostPort(8080)), "alice-web")
	})
	jump := runCmd(t, "GET / HTTP/1.0\r\n\r\n", "ssh", g.sshArgs("alice", "-i", alice, "-W", "web:8080")...)
	if !strings.Contains(jump.out, "alice-web") {
		t.Fatalf("ssh -W web:8080: %+v", jump)
	}

	r = g.sshKey("alice", alice, "", "launch", "g", "--gpu", "sim0")
	if r.code != 0 || !strings.Contains(r.err, "Placed on member3: 2 of 2 GPUs free") {
		t.Fatalf("launch --gpu sim0: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "gpus"); !strings.Contains(r.out, "member3/sim0") || !strings.Contains(r.out, "alice/g") {
		t.Fatalf("gpus: %+v", r)
	}
	if r := g.sshKey("bob", bob, "", "launch", "b1", "--gpu", "sim0"); r.code == 0 || !strings.Contains(r.err, "see 'gpus'") {
		t.Fatalf("bob takes a held GPU: %+v", r)
	}
	r = g.sshKey("bob", bob, "", "launch", "b1")
	if r.code != 0 || !strings.Contains(r.err, "most free memory") {
		t.Fatalf("bob's launch by memory: %+v", r)
	}
	if a := g.sshKey("boss", admin, "", "audit", "--command", "launch"); !strings.Contains(a.out, "placed on member3: 2 of 2 GPUs free") {
		t.Fatalf("placement not audited: %+v", a)
	}

	// bob against alice's containers, on every member.
	for _, cmd := range [][]string{{"details", "web"}, {"stop", "web"}, {"ports", "web"}, {"snapshot", "g"}} {
		if r := g.sshKey("bob", bob, "", cmd...); r.code == 0 || !strings.Contains(r.err, "no such container") {
			t.Errorf("bob %v: %+v", cmd, r)
		}
	}
	if r := runCmd(t, "", "ssh", g.sshArgs("bob", "-i", bob, "-W", "web:8080")...); strings.Contains(r.out, "alice-web") {
		t.Fatalf("bob reached alice's web: %+v", r)
	}
	if r := runCmd(t, "", "ssh", g.sshArgs("bob", "-i", bob, "-W", web.IPv4+":8080")...); strings.Contains(r.out, "alice-web") {
		t.Fatalf("bob reached alice's web by address: %+v", r)
	}
	if r := g.sshKey("bob", bob, "", "list"); strings.Contains(r.out, "web") {
		t.Fatalf("bob sees alice's container: %+v", r)
	}

	// An admin holds bob to the gpu group.
	if r := g.sshKey("boss", admin, "", "quota", "bob", "--hosts", "gpu"); r.code != 0 {
		t.Fatalf("quota --hosts: %+v", r)
	}
	if r := g.sshKey("bob", bob, "", "launch", "b2"); r.code != 0 || !strings.Contains(r.err, "Placed on member3") {
		t.Fatalf("bob held to group gpu: %+v", r)
	}
	if r := g.sshKey("bob", bob, "", "launch", "b3", "--host", "member1"); r.code == 0 || !strings.Contains(r.err, "outside your cluster group gpu") {
		t.Fatalf("bob outside his group: %+v", r)
	}
	if r := g.sshKey("bob", bob, "", "move", "b1", "--host", "member1"); r.code == 0 {
		t.Fatalf("a user moved a container: %+v", r)
	}

	// The admin moves alice's stopped web to member1.
	if r := g.sshKey("alice", alice, "", "stop", "web", "--force"); r.code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	if r := g.sshKey("boss", admin, "", "move", "web", "--host", "member1", "--user", "alice"); r.code != 0 {
		t.Fatalf("move: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "start", "web"); r.code != 0 {
		t.Fatalf("start after move: %+v", r)
	}
	moved := g.details("alice", alice, "web")
	if moved.Host != "member1" || !strings.HasPrefix(moved.IPv4, "10.200.1.") || moved.hostPort(8080) != web.hostPort(8080) {
		t.Fatalf("after the move: %+v (before %+v)", moved, web)
	}
	serveHTTP(t, prefix+"alice", "web", "alice-moved")
	waitFor(t, "the same host port after the move", 15*time.Second, func() bool {
		return strings.Contains(httpGet(t, hostAddr, web.hostPort(8080)), "alice-moved")
	})
}

// Scenario: a member goes away while the gateway runs. Its container shows
// as unreachable and commands on it fail in one line, while the other
// members go on as before; its rows, ports and rules stay. When the member
// is back, its container is running and mapped again without anyone's help.
func TestClusterMemberAway(t *testing.T) {
	// The gateway talks to the cluster through member2 first, the member
	// that goes away: it must move on to member1 ([lxd] url lists both).
	c := needCluster(t)
	addr := map[string]string{}
	for _, m := range c.Members {
		addr[m.Name] = "https://" + m.Address + ":8443"
	}
	g, keys, prefix := clusterGW(t, 31200, "LXCGATE_LXD_URL="+addr["member2"]+","+addr["member1"])
	alice := keys["alice"]
	if r := g.sshKey("alice", alice, "", "launch", "far", "--host", "member2"); r.code != 0 {
		t.Fatalf("launch far: %+v", r)
	}
	far := g.details("alice", alice, "far")
	waitFor(t, "far's rule", 10*time.Second, func() bool { return strings.Contains(g.natRules(), "alice/far:ssh") })
	t.Cleanup(func() { lxcOut("start", "labcluster-m2", "--project", "labcluster") })
	if out, err := lxcAll("stop", "labcluster-m2", "--project", "labcluster", "--force"); err != nil {
		t.Fatalf("stop member2: %v %s", err, out)
	}
	waitFor(t, "far unreachable", 30*time.Second, func() bool {
		return strings.Contains(g.sshKey("alice", alice, "", "list").out, "unreachable (member2 offline)")
	})
	r := g.sshKey("alice", alice, "", "stop", "far")
	if r.code == 0 || !strings.Contains(r.err, "unreachable (member2 offline)") || strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		t.Fatalf("stop far while member2 is away: %+v", r)
	}
	// The rest of the cluster goes on, once it has chosen a new leader: its
	// database may not answer for a few seconds meanwhile, and then every
	// member looks away to the gateway. The test is about the steady state.
	waitFor(t, "the cluster's database without member2", 60*time.Second, func() bool {
		for i := 0; i < 3; i++ {
			if _, err := nested("list", "--all-projects", "--format", "csv", "-c", "n"); err != nil {
				return false
			}
			time.Sleep(time.Second)
		}
		return true
	})
	var near result
	waitFor(t, "launch on member1 while member2 is away", 30*time.Second, func() bool {
		near = g.sshKey("alice", alice, "", "launch", "near", "--host", "member1")
		return near.code == 0 || !strings.Contains(near.err, "member member1 is offline")
	})
	if near.code != 0 {
		t.Fatalf("launch on member1 while member2 is away: %+v", near)
	}
	if r := g.sshKey("alice", alice, "", "launch", "auto"); r.code != 0 || strings.Contains(r.err, "member2") {
		t.Fatalf("placement chose the member away: %+v", r)
	}
	time.Sleep(3 * time.Second) // a periodic reconcile (2 s) passes
	if !strings.Contains(g.natRules(), "alice/far:ssh") {
		t.Fatalf("far's rule was dropped while member2 was away:\n%s", g.natRules())
	}
	if c := g.details("alice", alice, "far"); c.hostPort(22) != far.hostPort(22) {
		t.Fatalf("far's port changed: %+v", c)
	}
	if !strings.Contains(g.logs(), "next="+addr["member1"]) {
		t.Fatalf("no move to member1 in the log:\n%s", g.logs())
	}

	if out, err := lxcAll("start", "labcluster-m2", "--project", "labcluster"); err != nil {
		t.Fatalf("start member2: %v %s", err, out)
	}
	// While the member rejoins, LXD may refuse a forwarded call ("Missing
	// event connection with target cluster member"): look again.
	waitFor(t, "far running again", 90*time.Second, func() bool {
		r := g.sshKey("alice", alice, "", "details", "far", "--json")
		var c container
		return r.code == 0 && json.Unmarshal([]byte(r.out), &c) == nil && c.State == "running"
	})
	serveHTTP(t, prefix+"alice", "far", "far-again")
	// The gateway's view of the member may lag LXD's by a ping or two.
	waitFor(t, "port add after the member came back", 20*time.Second, func() bool {
		return g.sshKey("alice", alice, "", "port", "add", "far", "8080").code == 0
	})
	back := g.details("alice", alice, "far")
	waitFor(t, "far reachable again", 20*time.Second, func() bool {
		return strings.Contains(httpGet(t, hostAddr, back.hostPort(8080)), "far-again")
	})
}
