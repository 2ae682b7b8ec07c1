package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Adversarial isolation tests: another user's container must be exactly as
// invisible as one that does not exist, ssh -W/-J must reach nothing but the
// caller's own running containers, and hostile snapshot names and sizes
// must be refused in one line with nothing changed.

// TestIsolationCommands: every command that takes a container name, run by
// bob against alice's container, answers exactly as for a name that does
// not exist, and changes nothing; so do name tricks.
func TestIsolationCommands(t *testing.T) {
	c := newIsolationCase(t)
	variants := nameVariants(c.fp)
	c.checkHelpCovers(variants)

	var jobs []probe
	for _, vs := range variants {
		for _, v := range vs {
			jobs = append(jobs, probe{args: v.args, stdin: v.stdin, name: aliceBox, analog: missingBox})
		}
	}
	// Name tricks, each as a function of the name so that the same trick
	// on a missing name is the oracle.
	trickCmds := trickCommands()
	for _, tr := range nameTricks(c.project) {
		for _, v := range trickCmds {
			jobs = append(jobs, probe{args: v.args, stdin: v.stdin, name: tr(aliceBox), analog: tr(missingBox)})
		}
	}
	// Tricks that do not contain the name: no oracle, but the same rules.
	constants := []string{".", "..", "/", "*", "%", "_", c.project, c.prefix + "bob", "../" + c.project, "alice", "-", "--"}
	t.Logf("%d commands by bob against alice's box and name tricks, each beside a missing name; %d constant tricks", len(jobs), len(constants)*len(trickCmds))
	parallel(len(jobs), 6, func(i int) { c.same(jobs[i]) })
	parallel(len(constants)*len(trickCmds), 6, func(i int) {
		c.refusedConstant(constants[i/len(trickCmds)], trickCmds[i%len(trickCmds)])
	})

	c.probeNUL()
	c.probeTerminal()
	c.probeViews()
	c.checkUnchanged("after bob's commands")
	if got := lxdNames(t, c.bobProject); len(got) != 0 {
		t.Errorf("bob's LXD project holds %v", got)
	}
	c.bobsOwnBox()
}

// The names TestIsolationCommands uses.
const (
	aliceBox    = "box"                                // alice's
	missingBox  = "fox"                                // nobody's: same length and shape as box
	aliceSnap   = "alicesnap"                          // alice's snapshot of box
	aliceLabel  = "alweb"                              // alice's published port on box
	bobPassword = "bob-sets-this-1\nbob-sets-this-1\n" // what bob's setpass types, twice
)

// isolationCase is alice's box, with a snapshot, a published port and a
// key, and bob who probes it; the state before bob's probes.
type isolationCase struct {
	t                   *testing.T
	g                   *gw
	alice, bob          string // their key files
	prefix              string
	project, bobProject string
	ip, fp              string // the box's address, its key's fingerprint
	secrets             []string
	lxdBefore, gwBefore string
}

// newIsolationCase starts a lab gateway with alice and bob and sets up
// alice's box.
func newIsolationCase(t *testing.T) *isolationCase {
	g, prefix := labGW(t)
	c := &isolationCase{t: t, g: g, prefix: prefix, project: prefix + "alice", bobProject: prefix + "bob"}
	c.alice = g.addUser("alice", "alice-password", false)
	c.bob = g.addUser("bob", "bob-password", false)
	g.start()

	if r := g.runWords("alice", c.alice, "", "launch", aliceBox); r.code != 0 {
		t.Fatalf("alice launch: %+v", r)
	}
	c.ip = g.waitIPv4("alice", c.alice, aliceBox)
	for _, args := range [][]string{{"snapshot", aliceBox, aliceSnap, "--keep"}, {"port", "add", aliceBox, "8000", "--name", aliceLabel}, {"key", aliceBox, "--mine"}} {
		if r := g.runWords("alice", c.alice, "", args...); r.code != 0 {
			t.Fatalf("alice %v: %+v", args, r)
		}
	}
	var keys []struct {
		Fingerprint string `json:"fingerprint"`
	}
	if r := g.runWords("alice", c.alice, "", "key", aliceBox, "--list", "--json"); json.Unmarshal([]byte(r.out), &keys) != nil || len(keys) == 0 {
		t.Fatalf("alice key --list --json: %+v", r)
	}
	c.fp = keys[0].Fingerprint
	c.lxdBefore, c.gwBefore = lxdContainerState(t, c.project, aliceBox), g.gatewayState("alice", c.alice, aliceBox)
	// What must never show up in bob's answers.
	c.secrets = []string{"alice", c.ip, aliceSnap, aliceLabel, c.fp}
	return c
}

// variant is a command line; "N" in args stands for the container name.
type variant struct {
	args  []string
	stdin string
}

// nameVariants is every command that takes NAME, by verb, in the ways it
// can be called; fp is the fingerprint of alice's key in box.
func nameVariants(fp string) map[string][]variant {
	snap, label, pw := aliceSnap, aliceLabel, bobPassword
	V := func(stdin string, args ...string) variant { return variant{args, stdin} }
	return map[string][]variant{
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
}

// checkHelpCovers checks that every command taking NAME in bob's own help
// has its variants.
func (c *isolationCase) checkHelpCovers(variants map[string][]variant) {
	t := c.t
	t.Helper()
	// create and launch take a new name: bob making his own "box" is tested
	// by bobsOwnBox.
	special := map[string]bool{"create": true, "launch": true}

	help := c.g.runWords("bob", c.bob, "", "help")
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
}

// fill puts name where args say "N".
func fill(args []string, name string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "N" {
			a = name
		}
		out[i] = a
	}
	return out
}

// probe is a command line bob runs with name and with its missing analog.
type probe struct {
	args         []string
	stdin        string
	name, analog string
}

// same runs a probe with name and with the missing analog, and checks
// that bob gets one answer for both, a failure, and nothing of alice's.
func (c *isolationCase) same(p probe) {
	t, g := c.t, c.g
	t.Helper()
	args, stdin, name, analog := p.args, p.stdin, p.name, p.analog
	got := g.runWords("bob", c.bob, stdin, fill(args, name)...)
	want := g.runWords("bob", c.bob, stdin, fill(args, analog)...)
	shown := fmt.Sprintf("bob %q", fill(args, name))
	if got.code == 0 || got.code != want.code || normaliseName(got.out, name) != normaliseName(want.out, analog) ||
		normaliseName(got.err, name) != normaliseName(want.err, analog) {
		t.Errorf("%s: answer differs from a missing container's:\n  got  %d %q %q\n  want %d %q %q", shown,
			got.code, got.out, got.err, want.code, want.out, want.err)
	}
	// Bob's own words may be echoed; nothing else of alice's may show.
	rest := got.out + got.err
	for _, w := range fill(args, name) {
		rest = normaliseName(rest, w)
	}
	for _, s := range c.secrets {
		if s != "" && strings.Contains(rest, s) {
			t.Errorf("%s: the answer reveals %q: %q", shown, s, got.out+got.err)
		}
	}
}

// refusedConstant runs v with a name that holds no container name: it
// must fail as a usage or a plain error and reveal nothing of alice's.
func (c *isolationCase) refusedConstant(name string, v variant) {
	t := c.t
	r := c.g.runWords("bob", c.bob, v.stdin, fill(v.args, name)...)
	shown := fmt.Sprintf("bob %q", fill(v.args, name))
	if r.code != 1 && r.code != 2 {
		t.Errorf("%s: exit %d, want 1 or 2: %+v", shown, r.code, r)
	}
	rest := normaliseName(r.out+r.err, name)
	for _, s := range c.secrets {
		if strings.Contains(rest, s) {
			t.Errorf("%s: the answer reveals %q: %q", shown, s, r.out+r.err)
		}
	}
}

// nameTricks are ways to write a name that must not reach another
// project's, user's or snapshot's container.
func nameTricks(project string) []func(b string) string {
	snap := aliceSnap
	fullwidth := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			b.WriteRune(r - '!' + '！')
		}
		return b.String()
	}
	return []func(b string) string{
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
}

// trickCommands are the commands the name tricks are tried with.
func trickCommands() []variant {
	snap, label, pw := aliceSnap, aliceLabel, bobPassword
	V := func(stdin string, args ...string) variant { return variant{args, stdin} }
	return []variant{
		V("", "details", "--json", "--", "N"), V("", "stop", "--force", "--", "N"), V("", "delete", "--yes", "--force", "--", "N"),
		V("", "snapshot", "--", "N"), V("", "snapshots", "--", "N"), V("", "restore", "--yes", "--", "N", snap), V("", "clone", "--", "N", snap, "mine"),
		V("", "port", "del", "--", "N", label), V("", "key", "--list", "--", "N"), V("", "autosnap", "--", "N", "off"), V(pw, "setpass", "--stdin", "--", "N"),
	}
}

// probeNUL: a NUL byte cannot travel in an exec request; a piped script
// carries it.
func (c *isolationCase) probeNUL() {
	t, g, box, missing := c.t, c.g, aliceBox, missingBox
	for _, pre := range []string{"details ", "delete --yes --force "} {
		got := runCmd(t, pre+box+"\x00\nexit\n", "ssh", g.sshArgs("bob", "-T", "-i", c.bob, "-o", "BatchMode=yes")...)
		want := runCmd(t, pre+missing+"\x00\nexit\n", "ssh", g.sshArgs("bob", "-T", "-i", c.bob, "-o", "BatchMode=yes")...)
		if normaliseName(got.out+got.err, box) != normaliseName(want.out+want.err, missing) || got.code != want.code {
			t.Errorf("bob script %q<NUL>: %+v, for a missing name %+v", pre+box, got, want)
		}
	}
}

// probeTerminal: on a terminal, delete asks nothing before "no such
// container", and a confirmed restore of alice's box still finds nothing.
func (c *isolationCase) probeTerminal() {
	t, box := c.t, aliceBox
	tt := c.g.tty("bob", "-i", c.bob, "-o", "BatchMode=yes")
	tt.expect("> ")
	tt.send("delete " + box + "\r")
	tt.expect(`no such container "` + box + `"`)
	tt.send("restore " + box + " " + aliceSnap + "\r")
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
	if strings.Contains(tt.screen(), c.ip) || strings.Contains(tt.screen(), "Restored") {
		t.Errorf("bob's terminal shows alice's box:\n%s", tt.screen())
	}
}

// probeViews: bob's views of the lab never show alice's container.
func (c *isolationCase) probeViews() {
	t := c.t
	for _, args := range [][]string{{"list"}, {"list", "--json"}, {"list", "--all"}, {"gpus"}, {"gpus", "--json"}, {"sshconfig"}} {
		r := c.g.runWords("bob", c.bob, "", args...)
		for _, s := range append([]string{aliceBox, c.ip}, c.secrets...) {
			if strings.Contains(r.out+r.err, s) {
				t.Errorf("bob %v reveals %q: %+v", args, s, r)
			}
		}
	}
	if cs := c.g.listJSON("bob", c.bob); len(cs) != 0 {
		t.Errorf("bob's list --json: %+v", cs)
	}
}

// checkUnchanged checks that alice's box is as it was, in LXD and in the
// gateway, and still running.
func (c *isolationCase) checkUnchanged(when string) {
	t, box := c.t, aliceBox
	t.Helper()
	if after := lxdContainerState(t, c.project, box); after != c.lxdBefore {
		t.Errorf("%s: alice's box changed in LXD:\nbefore:\n%s\nafter:\n%s", when, c.lxdBefore, after)
	}
	if after := c.g.gatewayState("alice", c.alice, box); after != c.gwBefore {
		t.Errorf("%s: alice's box changed in the gateway:\nbefore:\n%s\nafter:\n%s", when, c.gwBefore, after)
	}
	out, _ := lxcAll("list", box, "--project", c.project, "--format", "csv", "-c", "s")
	if strings.TrimSpace(out) != "RUNNING" {
		t.Errorf("%s: alice's box is %q", when, out)
	}
}

// bobsOwnBox: create and launch: bob may have a "box" of his own, which
// is his, and deleting it leaves alice's alone.
func (c *isolationCase) bobsOwnBox() {
	t, g, box := c.t, c.g, aliceBox
	for _, verb := range []string{"create", "launch"} {
		if r := g.runWords("bob", c.bob, "", verb, box); r.code != 0 {
			t.Errorf("bob %s %s: %+v", verb, box, r)
			continue
		}
		if cs := g.listJSON("bob", c.bob); len(cs) != 1 || cs[0].Owner != "bob" || cs[0].Name != box || cs[0].IPv4 == c.ip {
			t.Errorf("bob after %s: %+v", verb, cs)
		}
		if got := lxdNames(t, c.bobProject); strings.Join(got, ",") != box {
			t.Errorf("bob's project after %s: %v", verb, got)
		}
		if r := g.runWords("bob", c.bob, "", "delete", box, "--yes", "--force"); r.code != 0 {
			t.Errorf("bob delete his own %s: %+v", box, r)
		}
		c.checkUnchanged("after bob's " + verb + " and delete of his own box")
	}
	if got := lxdNames(t, c.bobProject); len(got) != 0 {
		t.Errorf("bob's LXD project holds %v at the end", got)
	}
}
