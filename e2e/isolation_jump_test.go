package e2e

import (
	"database/sql"
	"net"
	"strings"
	"testing"
	"time"
)

// Isolation of ssh -W/-J (see isolation_test.go for the isolation tests'
// rules).

// TestIsolationJump: ssh -W and -J through the gateway reach only the
// caller's own running containers, by name, on 22 or a published port;
// every other destination is refused, audited and never dialled.
// It runs on both lab bridges: on lxdbr6 the allowed targets too were
// unreachable before (no address).
func TestIsolationJump(t *testing.T) { onLabNets(t, testIsolationJump) }

func testIsolationJump(t *testing.T, n labNet) {
	j := newJumpCase(t, n)
	g, alice, bob, aliceIP := j.g, j.alice, j.bob, j.aliceIP
	// Host-side listeners: any byte of theirs, or any connection to them,
	// means the gateway dialled a refused destination.
	ls := listenAround(t, n)
	j.waitAllowed()

	j.db = openDB(t, g)
	for _, target := range j.targets(ls) {
		host, _, _ := net.SplitHostPort(target)
		j.refused("alice ssh -W "+target, host, func() result { return j.w("alice", alice, target) })
	}
	// bob cannot reach alice's container by name either.
	j.refused("bob ssh -W jbox:22", "jbox", func() result { return j.w("bob", bob, "jbox:22") })
	j.refused("bob ssh -W "+aliceIP+":22", aliceIP, func() result { return j.w("bob", bob, aliceIP+":22") })

	// The stock client's -J: the same refusals.
	cfg := g.jumpConfig("alice", alice, alice)
	for _, dest := range [][]string{{n.gw, "22"}, {"127.0.0.1", g.port}, {"localhost", ls.lport}, {"jbob", "22"}, {aliceIP, "22"}, {"jbox", "8000"}} {
		j.refused("alice ssh -J gw -p "+dest[1]+" "+dest[0], dest[0], func() result {
			return runCmd(t, "", "ssh", "-F", cfg, "-J", "gw", "-p", dest[1], dest[0], "true")
		})
	}

	for _, l := range ls.all {
		if n := l.accepted.Load(); n != 0 {
			t.Errorf("the gateway dialled %s %d times for refused requests", l.addr, n)
		}
	}
	// After all that, the allowed target still works, and was audited as such.
	if r := j.w("alice", alice, "jbox:22"); r.code != 0 || strings.TrimSpace(r.out) != "alice-22" {
		t.Errorf("ssh -W jbox:22 after the refusals: %+v", r)
	}
	if r := j.w("alice", alice, "jbox:8001"); r.code != 0 || strings.TrimSpace(r.out) != "alice-8001" {
		t.Errorf("ssh -W jbox:8001 after the refusals: %+v", r)
	}
}

// jumpCase is a gateway on one lab bridge where alice has jbox (22, 8000
// and the published 8001 answer with banners) and bob has jbob (22).
type jumpCase struct {
	t              *testing.T
	g              *gw
	n              labNet
	prefix         string
	alice, bob     string // their key files
	aliceIP, bobIP string
	db             *sql.DB // the gateway's, for its audit rows
}

// newJumpCase starts the gateway, launches both containers and their
// banner servers.
func newJumpCase(t *testing.T, n labNet) *jumpCase {
	g, prefix := portsGW(t, n.env...)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	if r := g.runWords("alice", alice, "", "launch", "jbox"); r.code != 0 {
		t.Fatalf("alice launch: %+v", r)
	}
	if r := g.runWords("bob", bob, "", "launch", "jbob"); r.code != 0 {
		t.Fatalf("bob launch: %+v", r)
	}
	if r := g.runWords("alice", alice, "", "port", "add", "jbox", "8001"); r.code != 0 {
		t.Fatalf("port add: %+v", r)
	}
	aliceIP, bobIP := g.waitIPv4("alice", alice, "jbox"), g.waitIPv4("bob", bob, "jbob")
	serveBanner(t, prefix+"alice", "jbox", 22, "alice-22")
	serveBanner(t, prefix+"alice", "jbox", 8000, "alice-8000")
	serveBanner(t, prefix+"alice", "jbox", 8001, "alice-8001")
	serveBanner(t, prefix+"bob", "jbob", 22, "bob-22")
	return &jumpCase{t: t, g: g, n: n, prefix: prefix, alice: alice, bob: bob, aliceIP: aliceIP, bobIP: bobIP}
}

// hostListeners are the host-side listeners of a jump test and their ports.
type hostListeners struct {
	all                         []*hostListener
	lport, bport, cport, lport6 string // loopback, bridge, client side, IPv6 loopback ("" without)
}

// listenAround listens on loopback, on n's bridge address (8000 if free)
// and on the address the client namespace reaches the host at.
func listenAround(t *testing.T, n labNet) hostListeners {
	var l hostListeners
	lo := listenHost(t, "127.0.0.1:0")
	l.all = append(l.all, lo)
	_, l.lport, _ = net.SplitHostPort(lo.addr)
	bridge := listenHost(t, n.gw+":8000")
	if bridge == nil {
		bridge = listenHost(t, n.gw+":0")
	}
	_, l.bport, _ = net.SplitHostPort(bridge.addr)
	l.all = append(l.all, bridge)
	client := listenHost(t, "10.177.0.1:0")
	l.all = append(l.all, client)
	_, l.cport, _ = net.SplitHostPort(client.addr)
	if l6 := listenHost(t, "[::1]:0"); l6 != nil {
		l.all = append(l.all, l6)
		_, l.lport6, _ = net.SplitHostPort(l6.addr)
	}
	return l
}

// w is ssh -W target as user.
func (j *jumpCase) w(user, key, target string) result {
	return runCmd(j.t, "", "ssh", j.g.sshArgs(user, "-i", key, "-o", "BatchMode=yes", "-W", target)...)
}

// waitAllowed waits until the allowed targets work, so that a refusal
// later is not a listener that was not up yet.
func (j *jumpCase) waitAllowed() {
	t, w, alice, bob := j.t, j.w, j.alice, j.bob
	waitFor(t, "ssh -W jbox:22", 20*time.Second, func() bool { return strings.Contains(w("alice", alice, "jbox:22").out, "alice-22") })
	waitFor(t, "ssh -W jbox:8001 (published)", 20*time.Second, func() bool {
		return strings.Contains(w("alice", alice, "jbox:8001").out, "alice-8001")
	})
	waitFor(t, "bob's own ssh -W jbob:22", 20*time.Second, func() bool { return strings.Contains(w("bob", bob, "jbob:22").out, "bob-22") })
	// alice's unpublished 8000 does answer from the host: a refusal of it
	// is the gateway's doing.
	waitFor(t, "jbox:8000 answers from the host", 20*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", j.aliceIP+":8000", time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		return strings.Contains(string(buf[:n]), "alice-8000")
	})
}

// targets are what alice's ssh -W must never reach: the host and the
// bridge under every spelling, bob's container, and her own by address,
// on an unpublished port or under another name.
func (j *jumpCase) targets(l hostListeners) []string {
	n, port, lport, bport, cport := j.n, j.g.port, l.lport, l.bport, l.cport
	targets := []string{
		"10.177.0.1:22", "10.177.0.1:" + cport, "10.177.0.1:" + port,
		n.gw + ":22", n.gw + ":53", n.gw + ":" + bport, n.gw + ":" + port, "10.166.0.1:22",
		"127.0.0.1:" + port, "127.0.0.1:2222", "127.0.0.1:22", "127.0.0.1:" + lport,
		"127.1:22", "127.1:" + lport, "0x7f000001:22", "0x7f000001:" + lport, "2130706433:22", "2130706433:" + lport,
		"017700000001:" + lport, "127.0.0.1.:" + lport, "[::1]:22", "[::1]:" + port, "[::ffff:127.0.0.1]:" + lport,
		"localhost:22", "localhost:" + lport, "localhost:" + port, "0:22", "0:" + lport, "0.0.0.0:" + lport, "[::]:" + port,
		"jbob:22", j.bobIP + ":22", j.aliceIP + ":22", j.aliceIP + ":8001", "jbox:8000", "jbox:23",
		"JBOX:22", "jbox.:22", "jbox/:22", "alice/jbox:22", j.prefix + "alice/jbox:22", "bob/jbob:22",
	}
	if l.lport6 != "" {
		targets = append(targets, "[::1]:"+l.lport6, "[0:0:0:0:0:0:0:1]:"+l.lport6)
	}
	return targets
}

// lastID is the newest audit row's id.
func (j *jumpCase) lastID() int64 {
	var id int64
	j.db.QueryRow(`SELECT coalesce(max(id), 0) FROM audit`).Scan(&id)
	return id
}

// refusals are the refusal rows after since, as "method | detail".
func (j *jumpCase) refusals(since int64) []string {
	rows, err := j.db.Query(`SELECT method || ' | ' || detail FROM audit WHERE kind = 'refusal' AND id > ? ORDER BY id`, since)
	if err != nil {
		j.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// refused runs a jump that must be refused: no byte of the target reaches
// the client, and the audit table gains a refusal naming host.
func (j *jumpCase) refused(how string, host string, run func() result) {
	t := j.t
	t.Helper()
	since := j.lastID()
	r := run()
	if r.code == 0 || r.out != "" {
		t.Errorf("%s: not refused (exit %d, %d bytes from the target: %q; stderr %q)", how, r.code, len(r.out), r.out, r.err)
	}
	for _, banner := range []string{"alice-", "bob-", "HOST-LISTENER", "SSH-2.0"} {
		if strings.Contains(r.out+r.err, banner) {
			t.Errorf("%s: bytes from the target reached the client: %+v", how, r)
		}
	}
	var found bool
	for _, row := range j.refusals(since) {
		found = found || (strings.Contains(row, "direct-tcpip") && strings.Contains(row, host))
	}
	if !found {
		t.Errorf("%s: no refusal row naming %q in the audit table (new refusals: %q)", how, host, j.refusals(since))
	}
}
