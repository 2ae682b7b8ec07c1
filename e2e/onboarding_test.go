package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// onboardGW is a started gateway whose host commands know its public
// address and port, as the printed invite command needs.
func onboardGW(t *testing.T) *gw {
	t.Helper()
	g := newGW(t)
	g.envVars = append(g.envVars, "LXCGATE_SSH_LISTEN=127.0.0.1:"+g.port, "LXCGATE_PORTS_PUBLIC_ADDRESS=127.0.0.1")
	g.addUser("root1", "root1-password", true)
	g.start()
	return g
}

// invite runs 'lxcgate user invite NAME --json' and returns the code and
// the command printed for the member.
func (g *gw) invite(name string) (string, string) {
	g.t.Helper()
	var v struct{ Code, Command string }
	if err := json.Unmarshal([]byte(g.mustLxcgate("", "user", "invite", name, "--json")), &v); err != nil {
		g.t.Fatal(err)
	}
	return v.Code, v.Command
}

// redeem runs the member's 'ssh -p PORT invite@GATEWAY CODE < key.pub' with
// the stock client; opts add client options (a key of its own, say).
func (g *gw) redeem(code, stdin string, opts ...string) result {
	g.t.Helper()
	return runCmd(g.t, stdin, "ssh", append(g.sshArgs("invite", append([]string{"-o", "BatchMode=yes"}, opts...)...), code)...)
}

func readPub(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A user added with --key logs in with it; passwords are refused until
// 'user passwd' gives one.
func TestOnboardingKeyOnlyUser(t *testing.T) {
	g := onboardGW(t)
	key := g.newKey("kim")
	if out, errw, err := g.lxcgate("", "user", "add", "kim", "--key", strings.TrimSpace(readPub(t, key))); err != nil ||
		!strings.Contains(errw, "key-only") {
		t.Fatalf("user add --key: %v %q %q", err, out, errw)
	}
	if r := g.sshKey("kim", key, "", "whoami"); r.code != 0 || !strings.Contains(r.out, "kim") {
		t.Fatalf("key login: %+v", r)
	}
	for _, method := range []string{"password", "keyboard-interactive"} {
		if r := g.sshPassword("kim", "any-password-1", method, "whoami"); r.code == 0 {
			t.Fatalf("%s let a key-only user in: %+v", method, r)
		}
	}
	if list := g.mustLxcgate("", "user", "list", "--format", "csv"); !strings.Contains(list, "\nkim,user,false,false,1,") {
		t.Fatalf("user list: %q", list)
	}
	// A bad key makes no user.
	if _, errw, err := g.lxcgate("", "user", "add", "lee", "--key", "ssh-ed25519 AAAAnope"); err == nil || strings.Count(errw, "\n") != 1 {
		t.Fatalf("bad key: %v %q", err, errw)
	}
	if list := g.mustLxcgate("", "user", "list"); strings.Contains(list, "lee") {
		t.Fatalf("a refused add left lee: %q", list)
	}
	g.mustLxcgate("kim-password-1\n", "user", "passwd", "kim", "--password-stdin")
	if r := g.sshPassword("kim", "kim-password-1", "password", "whoami"); r.code != 0 {
		t.Fatalf("password after passwd: %+v", r)
	}
}

// An invited member registers their key with the printed command, then
// logs in with it; the code works once, and a wrong code gets the same line.
func TestOnboardingInvite(t *testing.T) {
	g := onboardGW(t)
	code, command := g.invite("nia")
	want := fmt.Sprintf("ssh -p %s invite@127.0.0.1 %s < ~/.ssh/id_ed25519.pub", g.port, code)
	if command != want {
		t.Fatalf("printed command %q, want %q", command, want)
	}
	key := g.newKey("nia")
	other := g.newKey("stranger") // the client's own key does not matter
	r := g.redeem(code, readPub(t, key), "-i", other)
	if r.code != 0 || !strings.Contains(r.out, "registered for nia") || !strings.Contains(r.out, "ssh -p "+g.port+" nia@127.0.0.1") {
		t.Fatalf("redeem: %+v", r)
	}
	if r := g.sshKey("nia", key, "", "whoami"); r.code != 0 || !strings.Contains(r.out, "nia") {
		t.Fatalf("login with the registered key: %+v", r)
	}
	again := g.redeem(code, readPub(t, g.newKey("nia2")))
	wrong := g.redeem("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH", readPub(t, g.newKey("nia3")))
	line := "invite: that code is not valid; ask your lab admin for a new one\n"
	for _, r := range []result{again, wrong} {
		if r.code != 1 || r.out != "" || r.err != line {
			t.Fatalf("spent or wrong code: %+v", r)
		}
	}
	// The audit trail has every attempt and never the code.
	var attempts, leaks int
	db := openDB(t, g)
	db.QueryRow(`SELECT count(*) FROM audit WHERE method = 'invite'`).Scan(&attempts)
	db.QueryRow(`SELECT count(*) FROM audit WHERE instr(detail, ?) > 0 OR instr(detail, ?) > 0`,
		code, strings.ReplaceAll(code, "-", "")).Scan(&leaks)
	if attempts != 3 || leaks != 0 {
		t.Fatalf("%d invite attempts audited (want 3), %d rows with the code", attempts, leaks)
	}
}

// Hostile redemptions: a megabyte on stdin, a private key, a code whose
// user was deleted, a shell or a forward on the invite login.
func TestOnboardingInviteHostile(t *testing.T) {
	g := onboardGW(t)
	code, _ := g.invite("oli")
	key := g.newKey("oli")
	priv, _ := os.ReadFile(key)
	for name, tc := range map[string]struct{ stdin, want string }{
		"1 MB":        {strings.Repeat("A", 1<<20), "more than 16 KiB"},
		"private key": {string(priv), "that is a private key"},
	} {
		r := g.redeem(code, tc.stdin)
		if r.code != 1 || !strings.Contains(r.err, tc.want) || strings.Count(r.err, "\n") != 1 || strings.Contains(r.err, "PRIVATE") {
			t.Errorf("%s: %+v", name, r)
		}
	}
	shell := runCmd(t, "", "ssh", g.sshArgs("invite", "-o", "BatchMode=yes")...)
	if shell.code != 1 || !strings.Contains(shell.err, "invite: run ssh -p "+g.port+" invite@127.0.0.1 CODE") {
		t.Errorf("shell on the invite login: %+v", shell)
	}
	if fw := runCmd(t, "", "ssh", g.sshArgs("invite", "-o", "BatchMode=yes", "-W", "127.0.0.1:22")...); fw.code == 0 ||
		!strings.Contains(fw.err, "forwarding failed") {
		t.Errorf("forward on the invite login: %+v", fw)
	}
	// The refusals above left the code unspent; deleting its user ends it.
	g.mustLxcgate("", "user", "del", "oli")
	if r := g.redeem(code, readPub(t, key)); r.code != 1 || !strings.Contains(r.err, "that code is not valid") {
		t.Fatalf("code of a deleted user: %+v", r)
	}
}

// Two members racing with one code: exactly one key is registered.
func TestOnboardingInviteRace(t *testing.T) {
	g := onboardGW(t)
	code, _ := g.invite("pia")
	var wg sync.WaitGroup
	res := make([]result, 4)
	pubs := make([]string, len(res))
	for i := range pubs {
		pubs[i] = readPub(t, g.newKey(fmt.Sprintf("pia%d", i)))
	}
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = g.redeem(code, pubs[i]) }()
	}
	wg.Wait()
	won := 0
	for _, r := range res {
		if r.code == 0 {
			won++
		}
	}
	if keys := g.mustLxcgate("", "user", "key", "list", "pia", "--format", "csv"); won != 1 || strings.Count(keys, "ssh-ed25519") != 1 {
		t.Fatalf("%d winners: %+v; keys %q", won, res, keys)
	}
}
