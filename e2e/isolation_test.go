package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Adversarial isolation tests: another user's container must be exactly as
// invisible as one that does not exist, ssh -W/-J must reach nothing but the
// caller's own running containers, and hostile snapshot names and sizes
// must be refused in one line with nothing changed.

// isoQuote quotes one word for the gateway's command line (POSIX single
// quotes, which internal/cli understands), so that any byte but NUL
// reaches the command as typed.
func isoQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isoLine joins words into one quoted command line.
func isoLine(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = isoQuote(w)
	}
	return strings.Join(q, " ")
}

// isoRun runs one command line as user, every word quoted.
func (g *gw) isoRun(user, key, stdin string, words ...string) result {
	g.t.Helper()
	return g.sshKey(user, key, stdin, isoLine(words...))
}

// isoOneLine reports whether s is exactly one non-empty line.
func isoOneLine(s string) bool {
	s = strings.TrimSuffix(s, "\n")
	return s != "" && !strings.Contains(s, "\n")
}

// isoNormalise replaces the name a command was given (raw, and as %q
// writes it) by NAME, so that answers for two names can be compared.
func isoNormalise(s, name string) string {
	if name == "" {
		return s
	}
	s = strings.ReplaceAll(s, strconv.Quote(name), `"NAME"`)
	s = strings.ReplaceAll(s, strconv.QuoteToASCII(name), `"NAME"`)
	return strings.ReplaceAll(s, name, "NAME")
}

// isoSnapshotsSection is the snapshot table of 'lxc info' (empty when the
// instance has none).
func isoSnapshotsSection(t *testing.T, project, name string) string {
	t.Helper()
	out, err := exec.Command("lxc", "info", name, "--project", project).CombinedOutput()
	if err != nil {
		t.Fatalf("lxc info %s: %v %s", name, err, out)
	}
	_, snaps, _ := strings.Cut(string(out), "\nSnapshots:")
	return snaps
}

// isoLXDState is what LXD holds for user's container: instances and states
// of the project, the snapshot table, the configuration without volatile
// keys (autosnap lands there), and the files setpass and key would change.
func isoLXDState(t *testing.T, project, name string) string {
	t.Helper()
	var b strings.Builder
	list, _ := exec.Command("lxc", "list", "--project", project, "--format", "csv", "-c", "ns").CombinedOutput()
	fmt.Fprintf(&b, "instances:\n%s\nsnapshots:%s\n", list, isoSnapshotsSection(t, project, name))
	cfg, _ := exec.Command("lxc", "config", "show", name, "--project", project).CombinedOutput()
	for _, l := range strings.Split(string(cfg), "\n") {
		if !strings.Contains(l, "volatile.") {
			b.WriteString(l + "\n")
		}
	}
	files, _ := exec.Command("lxc", "exec", name, "--project", project, "--", "sh", "-c",
		"cat /etc/passwd /etc/shadow /home/ubuntu/.ssh/authorized_keys /root/.ssh/authorized_keys 2>&1").CombinedOutput()
	fmt.Fprintf(&b, "files:\n%s", files)
	return b.String()
}

// isoGatewayState is what the gateway tells the owner about a container.
func (g *gw) isoGatewayState(user, key, name string) string {
	g.t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"list", "--json"}, {"ports", name, "--json"}, {"snapshots", name, "--json"}, {"details", name, "--json"}} {
		r := g.isoRun(user, key, "", args...)
		fmt.Fprintf(&b, "%v => %d\n%s%s", args, r.code, r.out, r.err)
	}
	// A snapshot's size grows as the running container writes: left out.
	return regexp.MustCompile(`"size": -?\d+`).ReplaceAllString(b.String(), `"size": _`)
}

// isoWaitIPv4 waits for user's container to run with an address and
// returns the address.
func (g *gw) isoWaitIPv4(user, key, name string) string {
	g.t.Helper()
	ip := ""
	waitFor(g.t, name+" has an address", 30*time.Second, func() bool {
		for _, c := range g.listJSON(user, key) {
			if c.Name == name && c.State == "running" && strings.HasPrefix(c.IPv4, g.subnet()) {
				ip = c.IPv4
				return true
			}
		}
		return false
	})
	return ip
}

// isoParallel runs f(i) for i in [0, n) with at most limit at once.
func isoParallel(n, limit int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}(i)
	}
	wg.Wait()
}

// TestIsolationCommands: every command that takes a container name, run by
// bob against alice's container, answers exactly as for a name that does
// not exist, and changes nothing; so do name tricks.
func TestIsolationCommands(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	project, bobProject := prefix+"alice", prefix+"bob"
	const (
		box     = "box"       // alice's
		missing = "fox"       // nobody's: same length and shape as box
		snap    = "alicesnap" // alice's snapshot of box
		label   = "alweb"     // alice's published port on box
	)

	if r := g.isoRun("alice", alice, "", "launch", box); r.code != 0 {
		t.Fatalf("alice launch: %+v", r)
	}
	ip := g.isoWaitIPv4("alice", alice, box)
	for _, args := range [][]string{{"snapshot", box, snap, "--keep"}, {"port", "add", box, "8000", "--name", label}, {"key", box, "--mine"}} {
		if r := g.isoRun("alice", alice, "", args...); r.code != 0 {
			t.Fatalf("alice %v: %+v", args, r)
		}
	}
	var keys []struct {
		Fingerprint string `json:"fingerprint"`
	}
	if r := g.isoRun("alice", alice, "", "key", box, "--list", "--json"); json.Unmarshal([]byte(r.out), &keys) != nil || len(keys) == 0 {
		t.Fatalf("alice key --list --json: %+v", r)
	}
	fp := keys[0].Fingerprint
	lxdBefore, gwBefore := isoLXDState(t, project, box), g.isoGatewayState("alice", alice, box)
	// What must never show up in bob's answers.
	secrets := []string{"alice", ip, snap, label, fp}

	// Every command that takes NAME, from bob's own help.
	type variant struct {
		args  []string // "N" stands for the container name
		stdin string
	}
	V := func(stdin string, args ...string) variant { return variant{args, stdin} }
	pw := "bob-sets-this-1\nbob-sets-this-1\n"
	variants := map[string][]variant{
		"start":   {V("", "start", "N")},
		"stop":    {V("", "stop", "N"), V("", "stop", "N", "--force")},
		"restart": {V("", "restart", "N")},
		"delete": {V("", "delete", "N"), V("", "delete", "N", "--yes"), V("", "delete", "N", "--force"),
			V("", "delete", "N", "--yes", "--force"), V("", "delete", "N", "-yes", "-force"), V("", "delete", "--yes", "--force", "--", "N")},
		"details":   {V("", "details", "N"), V("", "details", "N", "--json")},
		"snapshot":  {V("", "snapshot", "N"), V("", "snapshot", "N", "bobsnap", "--keep"), V("", "snapshot", "delete", "N", snap), V("", "snapshot", "delete", "N", "nosnap")},
		"snapshots": {V("", "snapshots", "N"), V("", "snapshots", "N", "--json")},
		"restore":   {V("", "restore", "N", snap, "--yes"), V("", "restore", "N", snap), V("", "restore", "N", "nosnap", "--yes")},
		"clone":     {V("", "clone", "N", snap, "mine"), V("", "clone", "N", "nosnap", "mine")},
		"autosnap":  {V("", "autosnap", "N", "daily"), V("", "autosnap", "N", "hourly", "--expiry", "1d"), V("", "autosnap", "N", "off"), V("", "autosnap", "N", "weekly")},
		"ports":     {V("", "ports", "N"), V("", "ports", "N", "--json")},
		"port": {V("", "port", "add", "N", "8080"), V("", "port", "add", "N", "8081", "--name", "bobweb"), V("", "port", "del", "N", label),
			V("", "port", "del", "N", "ssh"), V("", "port", "del", "N", "8000")},
		"key": {V("", "key", "N"), V("", "key", "N", "--type", "rsa"), V("", "key", "N", "--user", "root"), V("", "key", "N", "--list"),
			V("", "key", "N", "--list", "--json"), V("", "key", "N", "--revoke", fp), V("", "key", "N", "--mine")},
		"setpass": {V("", "setpass", "N"), V(pw, "setpass", "N", "--stdin"), V(pw, "setpass", "N", "--user", "root", "--stdin")},
		"renew":   {V("", "renew", "N"), V("", "renew", "N", "1h"), V("", "renew", "N", "7d")},
	}
	// create and launch take a new name: bob making his own "box" is tested below.
	special := map[string]bool{"create": true, "launch": true}

	help := g.isoRun("bob", bob, "", "help")
	if help.code != 0 {
		t.Fatalf("bob help: %+v", help)
	}
	sep := regexp.MustCompile(`\s{2,}`)
	listed := 0
	for _, line := range strings.Split(help.out, "\n") {
		if !strings.HasPrefix(line, "  ") {
			continue
		}
		usage := sep.Split(strings.TrimSpace(line), 2)[0]
		words := strings.Fields(usage)
		takesName := false
		for _, w := range words[1:] {
			takesName = takesName || w == "NAME"
		}
		if takesName {
			listed++
		}
		if takesName && variants[words[0]] == nil && !special[words[0]] {
			t.Errorf("%q takes NAME but TestIsolationCommands does not cover it; add its variants", usage)
		}
	}

	if listed < len(variants) {
		t.Errorf("bob's help lists %d commands taking NAME, fewer than the %d covered; help was:\n%s", listed, len(variants), help.out)
	}

	fill := func(args []string, name string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			if a == "N" {
				a = name
			}
			out[i] = a
		}
		return out
	}
	// same runs words with name and with the missing analog, and checks
	// that bob gets one answer for both, a failure, and nothing of alice's.
	same := func(args []string, stdin, name, analog string) {
		t.Helper()
		got := g.isoRun("bob", bob, stdin, fill(args, name)...)
		want := g.isoRun("bob", bob, stdin, fill(args, analog)...)
		shown := fmt.Sprintf("bob %q", fill(args, name))
		if got.code == 0 || got.code != want.code || isoNormalise(got.out, name) != isoNormalise(want.out, analog) ||
			isoNormalise(got.err, name) != isoNormalise(want.err, analog) {
			t.Errorf("%s: answer differs from a missing container's:\n  got  %d %q %q\n  want %d %q %q", shown,
				got.code, got.out, got.err, want.code, want.out, want.err)
		}
		// Bob's own words may be echoed; nothing else of alice's may show.
		rest := got.out + got.err
		for _, w := range fill(args, name) {
			rest = isoNormalise(rest, w)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(rest, s) {
				t.Errorf("%s: the answer reveals %q: %q", shown, s, got.out+got.err)
			}
		}
	}

	type job struct {
		args         []string
		stdin        string
		name, analog string
	}
	var jobs []job
	for _, vs := range variants {
		for _, v := range vs {
			jobs = append(jobs, job{args: v.args, stdin: v.stdin, name: box, analog: missing})
		}
	}

	// Name tricks, each as a function of the name so that the same trick
	// on a missing name is the oracle.
	fullwidth := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			b.WriteRune(r - '!' + '！')
		}
		return b.String()
	}
	tricks := []func(b string) string{
		strings.ToUpper,
		func(b string) string { return strings.ToUpper(b[:1]) + b[1:] },
		func(b string) string { return strings.ReplaceAll(b, "o", "о") }, // Cyrillic о
		fullwidth,
		func(b string) string { return "alice/" + b },
		func(b string) string { return "alice:" + b },
		func(b string) string { return "../" + project + "/" + b },
		func(b string) string { return "../../" + project + "/instances/" + b },
		func(b string) string { return project + "/" + b },
		func(b string) string { return b + "/" },
		func(b string) string { return "./" + b },
		func(b string) string { return b + "/" + snap },
		func(b string) string { return b + "%00" },
		func(b string) string { return b + "%2F" },
		func(b string) string { return b + "?project=" + project },
		func(b string) string { return b + " " },
		func(b string) string { return " " + b },
		func(b string) string { return b + "\n" },
		func(b string) string { return b + "\t" },
		func(b string) string { return b[:1] + " " + b[1:] },
		func(b string) string { return b + `"` },
		func(b string) string { return b + "'" },
		func(b string) string { return `"` + b + `"` },
		func(b string) string { return b[:1] + "%" },
		func(b string) string { return b[:1] + "_" + b[2:] },
		func(b string) string { return b[:1] + "*" },
		func(b string) string { return b + strings.Repeat("x", 61) },
		func(b string) string { return b + strings.Repeat("x", 10000) },
		func(b string) string { return strings.Repeat(b, 40) },
	}
	// Tricks that do not contain the name: no oracle, but the same rules.
	constants := []string{".", "..", "/", "*", "%", "_", project, prefix + "bob", "../" + project, "alice", "-", "--"}
	trickCmds := []variant{
		V("", "details", "--json", "--", "N"), V("", "stop", "--force", "--", "N"), V("", "delete", "--yes", "--force", "--", "N"),
		V("", "snapshot", "--", "N"), V("", "snapshots", "--", "N"), V("", "restore", "--yes", "--", "N", snap), V("", "clone", "--", "N", snap, "mine"),
		V("", "port", "del", "--", "N", label), V("", "key", "--list", "--", "N"), V("", "autosnap", "--", "N", "off"), V(pw, "setpass", "--stdin", "--", "N"),
	}
	for _, tr := range tricks {
		for _, v := range trickCmds {
			jobs = append(jobs, job{args: v.args, stdin: v.stdin, name: tr(box), analog: tr(missing)})
		}
	}
	t.Logf("%d commands by bob against alice's box and name tricks, each beside a missing name; %d constant tricks", len(jobs), len(constants)*len(trickCmds))
	isoParallel(len(jobs), 6, func(i int) {
		j := jobs[i]
		same(j.args, j.stdin, j.name, j.analog)
	})
	isoParallel(len(constants)*len(trickCmds), 6, func(i int) {
		c, v := constants[i/len(trickCmds)], trickCmds[i%len(trickCmds)]
		r := g.isoRun("bob", bob, v.stdin, fill(v.args, c)...)
		shown := fmt.Sprintf("bob %q", fill(v.args, c))
		if r.code != 1 && r.code != 2 {
			t.Errorf("%s: exit %d, want 1 or 2: %+v", shown, r.code, r)
		}
		rest := isoNormalise(r.out+r.err, c)
		for _, s := range secrets {
			if strings.Contains(rest, s) {
				t.Errorf("%s: the answer reveals %q: %q", shown, s, r.out+r.err)
			}
		}
	})

	// A NUL byte cannot travel in an exec request; a piped script carries it.
	for _, pre := range []string{"details ", "delete --yes --force "} {
		got := runCmd(t, pre+box+"\x00\nexit\n", "ssh", g.sshArgs("bob", "-T", "-i", bob, "-o", "BatchMode=yes")...)
		want := runCmd(t, pre+missing+"\x00\nexit\n", "ssh", g.sshArgs("bob", "-T", "-i", bob, "-o", "BatchMode=yes")...)
		if isoNormalise(got.out+got.err, box) != isoNormalise(want.out+want.err, missing) || got.code != want.code {
			t.Errorf("bob script %q<NUL>: %+v, for a missing name %+v", pre+box, got, want)
		}
	}

	// On a terminal: delete asks nothing before "no such container", and
	// a confirmed restore of alice's box still finds nothing.
	tt := g.tty("bob", "-i", bob, "-o", "BatchMode=yes")
	tt.expect("> ")
	tt.send("delete " + box + "\r")
	tt.expect(`no such container "` + box + `"`)
	tt.send("restore " + box + " " + snap + "\r")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tt.screen(), "Type its name") && strings.Count(tt.screen(), "no such container") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("restore on a terminal: %s", tt.screen())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(tt.screen(), "Type its name") {
		tt.send(box + "\r")
	}
	waitFor(t, "restore refused on a terminal", 10*time.Second, func() bool { return strings.Count(tt.screen(), "no such container") >= 2 })
	tt.send("exit\r")
	tt.wait()
	if strings.Contains(tt.screen(), ip) || strings.Contains(tt.screen(), "Restored") {
		t.Errorf("bob's terminal shows alice's box:\n%s", tt.screen())
	}

	// bob's views of the lab never show alice's container.
	for _, args := range [][]string{{"list"}, {"list", "--json"}, {"list", "--all"}, {"gpus"}, {"gpus", "--json"}, {"sshconfig"}} {
		r := g.isoRun("bob", bob, "", args...)
		for _, s := range append([]string{box, ip}, secrets...) {
			if strings.Contains(r.out+r.err, s) {
				t.Errorf("bob %v reveals %q: %+v", args, s, r)
			}
		}
	}
	if cs := g.listJSON("bob", bob); len(cs) != 0 {
		t.Errorf("bob's list --json: %+v", cs)
	}

	check := func(when string) {
		t.Helper()
		if after := isoLXDState(t, project, box); after != lxdBefore {
			t.Errorf("%s: alice's box changed in LXD:\nbefore:\n%s\nafter:\n%s", when, lxdBefore, after)
		}
		if after := g.isoGatewayState("alice", alice, box); after != gwBefore {
			t.Errorf("%s: alice's box changed in the gateway:\nbefore:\n%s\nafter:\n%s", when, gwBefore, after)
		}
		out, _ := exec.Command("lxc", "list", box, "--project", project, "--format", "csv", "-c", "s").CombinedOutput()
		if strings.TrimSpace(string(out)) != "RUNNING" {
			t.Errorf("%s: alice's box is %q", when, out)
		}
	}
	check("after bob's commands")
	if got := lxdNames(t, bobProject); len(got) != 0 {
		t.Errorf("bob's LXD project holds %v", got)
	}

	// create and launch: bob may have a "box" of his own, which is his,
	// and deleting it leaves alice's alone.
	for _, verb := range []string{"create", "launch"} {
		if r := g.isoRun("bob", bob, "", verb, box); r.code != 0 {
			t.Errorf("bob %s %s: %+v", verb, box, r)
			continue
		}
		if cs := g.listJSON("bob", bob); len(cs) != 1 || cs[0].Owner != "bob" || cs[0].Name != box || cs[0].IPv4 == ip {
			t.Errorf("bob after %s: %+v", verb, cs)
		}
		if got := lxdNames(t, bobProject); strings.Join(got, ",") != box {
			t.Errorf("bob's project after %s: %v", verb, got)
		}
		if r := g.isoRun("bob", bob, "", "delete", box, "--yes", "--force"); r.code != 0 {
			t.Errorf("bob delete his own %s: %+v", box, r)
		}
		check("after bob's " + verb + " and delete of his own box")
	}
	if got := lxdNames(t, bobProject); len(got) != 0 {
		t.Errorf("bob's LXD project holds %v at the end", got)
	}
}

// isoListener accepts on addr, writes a banner and counts connections: a
// refused destination must never be dialled.
type isoListener struct {
	addr     string
	accepted atomic.Int32
}

func isoListen(t *testing.T, addr string) *isoListener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil
	}
	l := &isoListener{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			c.Write([]byte("HOST-LISTENER-" + l.addr + "\n"))
			c.Close()
		}
	}()
	return l
}

// isoServe runs a busybox nc server in a container that answers every
// connection to port with banner.
func isoServe(t *testing.T, project, name string, port int, banner string) {
	t.Helper()
	script := fmt.Sprintf("setsid nc -ll -p %d -e echo %s </dev/null >/dev/null 2>&1 &", port, banner)
	if out, err := exec.Command("lxc", "exec", name, "--project", project, "--", "sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("nc in %s: %v %s", name, err, out)
	}
}

// TestIsolationJump: ssh -W and -J through the gateway reach only the
// caller's own running containers, by name, on 22 or a published port;
// every other destination is refused, audited and never dialled.
// It runs on both lab bridges: on lxdbr6 the allowed targets too were
// unreachable before (no address).
func TestIsolationJump(t *testing.T) { onLabNets(t, testIsolationJump) }

func testIsolationJump(t *testing.T, n labNet) {
	g, prefix := portsGW(t, n.env...)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	if r := g.isoRun("alice", alice, "", "launch", "jbox"); r.code != 0 {
		t.Fatalf("alice launch: %+v", r)
	}
	if r := g.isoRun("bob", bob, "", "launch", "jbob"); r.code != 0 {
		t.Fatalf("bob launch: %+v", r)
	}
	if r := g.isoRun("alice", alice, "", "port", "add", "jbox", "8001"); r.code != 0 {
		t.Fatalf("port add: %+v", r)
	}
	aliceIP, bobIP := g.isoWaitIPv4("alice", alice, "jbox"), g.isoWaitIPv4("bob", bob, "jbob")
	isoServe(t, prefix+"alice", "jbox", 22, "alice-22")
	isoServe(t, prefix+"alice", "jbox", 8000, "alice-8000")
	isoServe(t, prefix+"alice", "jbox", 8001, "alice-8001")
	isoServe(t, prefix+"bob", "jbob", 22, "bob-22")

	// Host-side listeners: any byte of theirs, or any connection to them,
	// means the gateway dialled a refused destination.
	var listeners []*isoListener
	lo := isoListen(t, "127.0.0.1:0")
	listeners = append(listeners, lo)
	_, lport, _ := net.SplitHostPort(lo.addr)
	bridge := isoListen(t, n.gw+":8000")
	if bridge == nil {
		bridge = isoListen(t, n.gw+":0")
	}
	_, bport, _ := net.SplitHostPort(bridge.addr)
	listeners = append(listeners, bridge)
	client := isoListen(t, "10.177.0.1:0")
	listeners = append(listeners, client)
	_, cport, _ := net.SplitHostPort(client.addr)
	lport6 := ""
	if l6 := isoListen(t, "[::1]:0"); l6 != nil {
		listeners = append(listeners, l6)
		_, lport6, _ = net.SplitHostPort(l6.addr)
	}

	w := func(user, key, target string) result {
		return runCmd(t, "", "ssh", g.sshArgs(user, "-i", key, "-o", "BatchMode=yes", "-W", target)...)
	}
	// The allowed ones work first, so that a refusal below is not a
	// listener that was not up yet.
	waitFor(t, "ssh -W jbox:22", 20*time.Second, func() bool { return strings.Contains(w("alice", alice, "jbox:22").out, "alice-22") })
	waitFor(t, "ssh -W jbox:8001 (published)", 20*time.Second, func() bool {
		return strings.Contains(w("alice", alice, "jbox:8001").out, "alice-8001")
	})
	waitFor(t, "bob's own ssh -W jbob:22", 20*time.Second, func() bool { return strings.Contains(w("bob", bob, "jbob:22").out, "bob-22") })
	// alice's unpublished 8000 does answer from the host: a refusal of it
	// is the gateway's doing.
	waitFor(t, "jbox:8000 answers from the host", 20*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", aliceIP+":8000", time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		return strings.Contains(string(buf[:n]), "alice-8000")
	})

	db := openDB(t, g)
	lastID := func() int64 {
		var id int64
		db.QueryRow(`SELECT coalesce(max(id), 0) FROM audit`).Scan(&id)
		return id
	}
	refusals := func(since int64) []string {
		rows, err := db.Query(`SELECT method || ' | ' || detail FROM audit WHERE kind = 'refusal' AND id > ? ORDER BY id`, since)
		if err != nil {
			t.Fatal(err)
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
	refused := func(how string, host string, run func() result) {
		t.Helper()
		since := lastID()
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
		for _, row := range refusals(since) {
			found = found || (strings.Contains(row, "direct-tcpip") && strings.Contains(row, host))
		}
		if !found {
			t.Errorf("%s: no refusal row naming %q in the audit table (new refusals: %q)", how, host, refusals(since))
		}
	}

	targets := []string{
		"10.177.0.1:22", "10.177.0.1:" + cport, "10.177.0.1:" + g.port,
		n.gw + ":22", n.gw + ":53", n.gw + ":" + bport, n.gw + ":" + g.port, "10.166.0.1:22",
		"127.0.0.1:" + g.port, "127.0.0.1:2222", "127.0.0.1:22", "127.0.0.1:" + lport,
		"127.1:22", "127.1:" + lport, "0x7f000001:22", "0x7f000001:" + lport, "2130706433:22", "2130706433:" + lport,
		"017700000001:" + lport, "127.0.0.1.:" + lport, "[::1]:22", "[::1]:" + g.port, "[::ffff:127.0.0.1]:" + lport,
		"localhost:22", "localhost:" + lport, "localhost:" + g.port, "0:22", "0:" + lport, "0.0.0.0:" + lport, "[::]:" + g.port,
		"jbob:22", bobIP + ":22", aliceIP + ":22", aliceIP + ":8001", "jbox:8000", "jbox:23",
		"JBOX:22", "jbox.:22", "jbox/:22", "alice/jbox:22", prefix + "alice/jbox:22", "bob/jbob:22",
	}
	if lport6 != "" {
		targets = append(targets, "[::1]:"+lport6, "[0:0:0:0:0:0:0:1]:"+lport6)
	}
	for _, target := range targets {
		host, _, _ := net.SplitHostPort(target)
		refused("alice ssh -W "+target, host, func() result { return w("alice", alice, target) })
	}
	// bob cannot reach alice's container by name either.
	refused("bob ssh -W jbox:22", "jbox", func() result { return w("bob", bob, "jbox:22") })
	refused("bob ssh -W "+aliceIP+":22", aliceIP, func() result { return w("bob", bob, aliceIP+":22") })

	// The stock client's -J: the same refusals.
	cfg := g.jumpConfig("alice", alice, alice)
	for _, dest := range [][]string{{n.gw, "22"}, {"127.0.0.1", g.port}, {"localhost", lport}, {"jbob", "22"}, {aliceIP, "22"}, {"jbox", "8000"}} {
		refused("alice ssh -J gw -p "+dest[1]+" "+dest[0], dest[0], func() result {
			return runCmd(t, "", "ssh", "-F", cfg, "-J", "gw", "-p", dest[1], dest[0], "true")
		})
	}

	for _, l := range listeners {
		if n := l.accepted.Load(); n != 0 {
			t.Errorf("the gateway dialled %s %d times for refused requests", l.addr, n)
		}
	}
	// After all that, the allowed target still works, and was audited as such.
	if r := w("alice", alice, "jbox:22"); r.code != 0 || strings.TrimSpace(r.out) != "alice-22" {
		t.Errorf("ssh -W jbox:22 after the refusals: %+v", r)
	}
	if r := w("alice", alice, "jbox:8001"); r.code != 0 || strings.TrimSpace(r.out) != "alice-8001" {
		t.Errorf("ssh -W jbox:8001 after the refusals: %+v", r)
	}
}

// TestIsolationSnapshotNames: snapshot names that could escape the
// container's own snapshots are refused in one line naming the rule.
func TestIsolationSnapshotNames(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	project := prefix + "alice"
	if r := g.isoRun("alice", alice, "", "launch", "sbox"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	if r := g.isoRun("alice", alice, "", "snapshot", "sbox", "s0"); r.code != 0 {
		t.Fatalf("snapshot: %+v", r)
	}
	state := func() string {
		list, _ := exec.Command("lxc", "list", "--project", project, "--format", "csv", "-c", "ns").CombinedOutput()
		// A snapshot's size grows as the running container writes: left out.
		var snaps []struct {
			Name    string `json:"name"`
			Created string `json:"created"`
			Pinned  bool   `json:"pinned"`
		}
		r := g.isoRun("alice", alice, "", "snapshots", "sbox", "--json")
		if err := json.Unmarshal([]byte(r.out), &snaps); err != nil {
			t.Fatalf("snapshots --json: %v %+v", err, r)
		}
		return fmt.Sprintf("%s\nsnapshots:%s\n%+v", list, isoSnapshotsSection(t, project, "sbox"), snaps)
	}
	before := state()
	long, huge := strings.Repeat("a", 64), strings.Repeat("s", 5000)
	for _, args := range [][]string{
		{"restore", "sbox", "other/snap", "--yes"},
		{"restore", "sbox", "../x", "--yes"},
		{"restore", "sbox", "../sbox", "--yes"},
		{"restore", "sbox", "s0/../s0", "--yes"},
		{"restore", "sbox", "..", "--yes"},
		{"restore", "sbox", long, "--yes"},
		{"snapshot", "sbox", "a/b"},
		{"snapshot", "sbox", ".."},
		{"snapshot", "sbox", "s0/x"},
		{"snapshot", "sbox", "x%2Fy"},
		{"snapshot", "sbox", "x?project=default"},
		{"snapshot", "sbox", long},
		{"snapshot", "sbox", huge},
		{"snapshot", "delete", "sbox", "../../x"},
		{"snapshot", "delete", "sbox", "s0/.."},
		{"snapshot", "delete", "sbox", "../sbox"},
		{"snapshot", "delete", "sbox", long},
		{"clone", "sbox", "x/y", "newbox"},
		{"clone", "sbox", "../s0", "newbox"},
		{"clone", "sbox", "s0/..", "newbox"},
		{"clone", "sbox", long, "newbox"},
		{"clone", "sbox", huge, "newbox"},
	} {
		shown := fmt.Sprintf("%.80q", args)
		r := g.isoRun("alice", alice, "", args...)
		if r.code != 1 && r.code != 2 {
			t.Errorf("%s: exit %d, want 1 or 2: %.300q", shown, r.code, r.out+r.err)
		}
		if r.out != "" || !isoOneLine(r.err) || !strings.Contains(r.err, "snapshot name") {
			t.Errorf("%s: want one line naming the snapshot-name rule, got stdout %.200q stderr %.300q", shown, r.out, r.err)
		}
		if after := state(); after != before {
			t.Errorf("%s changed LXD or the gateway:\nbefore:\n%s\nafter:\n%s", shown, before, after)
			before = after
		}
	}
	if got := lxdNames(t, project); strings.Join(got, ",") != "sbox" {
		t.Errorf("alice's project holds %v", got)
	}
}

// TestIsolationOverflow: sizes and counts at and past int64, negative ones
// and repeated flags are refused in one line, and nothing is created.
func TestIsolationOverflow(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	project := prefix + "alice"
	if r := g.isoRun("alice", alice, "", "create", "keep"); r.code != 0 {
		t.Fatalf("create keep: %+v", r)
	}
	names := func() string {
		var ns []string
		for _, c := range g.listJSON("alice", alice) {
			ns = append(ns, c.Name+":"+c.State)
		}
		return strings.Join(ns, ",")
	}
	quota := func() string { return g.mustLxcgate("", "user", "quota", "alice") }
	lxdBefore, listBefore, quotaBefore := strings.Join(lxdNames(t, project), ","), names(), quota()
	repeat := func(n int, words ...string) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, words...)
		}
		return out
	}
	cases := [][]string{
		{"create", "x", "--cpu", "9223372036854775807"},
		{"create", "x", "--cpu", "9223372036854775808"},
		{"create", "x", "--cpu", "18446744073709551617"},
		{"create", "x", "--cpu", "-1"},
		{"create", "x", "--cpu", "-9223372036854775808"},
		{"create", "x", "--memory", "9999999999TiB"},
		{"create", "x", "--memory", "8EiB"},
		{"create", "x", "--memory", "16EiB"},
		{"create", "x", "--memory", "9223372036854775807"},
		{"create", "x", "--memory", "-1GiB"},
		{"create", "x", "--memory", "1e30"},
		{"create", "x", "--disk", "1e30"},
		{"create", "x", "--disk", "9999999999TiB"},
		{"create", "x", "--disk", "8EiB"},
		{"create", "x", "--gpu", "0,0"},
		{"create", "x", "--gpu", strings.TrimSuffix(strings.Repeat("0,", 5000), ",")},
		{"launch", "x", "--cpu", "9223372036854775807"},
		{"launch", "x", "--memory", "8EiB"},
		{"launch", "x", "--disk", "1e30"},
		append([]string{"create", "x"}, repeat(200, "--cpu", "1")...),
		append([]string{"create", "x"}, repeat(200, "--memory", "256MiB")...),
		append([]string{"create", "x"}, repeat(200, "--disk", "1GiB")...),
		append([]string{"create", "x"}, repeat(100, "--image", "lxcgate-busybox")...),
		{"create", "x", "--cpu", "1", "--cpu", "9223372036854775807"},
		{"create", "x", "--memory", "8EiB", "--memory", "256MiB"},
		{"create", "x", "--gpu", "all", "--gpu", "0"},
	}
	for _, args := range cases {
		shown := fmt.Sprintf("%.100q", args)
		if len(args) > 12 {
			shown = fmt.Sprintf("%q ... (%d words)", args[:6], len(args))
		}
		r := g.isoRun("alice", alice, "", args...)
		if r.code != 1 && r.code != 2 {
			t.Errorf("%s: exit %d, want 1 or 2: %.300q", shown, r.code, r.out+r.err)
		}
		if r.out != "" || !isoOneLine(r.err) {
			t.Errorf("%s: want one line, got stdout %.200q stderr %.300q", shown, r.out, r.err)
		}
		lxdAfter, listAfter, quotaAfter := strings.Join(lxdNames(t, project), ","), names(), quota()
		if lxdAfter != lxdBefore || listAfter != listBefore || quotaAfter != quotaBefore {
			t.Errorf("%s changed something: LXD %q -> %q, list %q -> %q, quota use changed: %v", shown,
				lxdBefore, lxdAfter, listBefore, listAfter, quotaAfter != quotaBefore)
			// Back to the start, so that the next case is judged alone.
			g.isoRun("alice", alice, "", "delete", "x", "--yes", "--force")
			exec.Command("lxc", "delete", "--force", "--project", project, "x").Run()
		}
	}
}
