package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestContainerAccess(t *testing.T) {
	g, _ := portsGW(t)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	for _, u := range []struct{ name, key string }{{"alice", alice}, {"bob", bob}} {
		if r := g.sshKey(u.name, u.key, "", "launch", "box", "--image", "lxcgate-debian"); r.code != 0 {
			t.Fatalf("launch %s: %+v", u.name, r)
		}
	}
	hp := g.sshPort("alice", alice, "box")
	waitFor(t, "box has an address", 20*time.Second, func() bool {
		cs := g.listJSON("alice", alice)
		return len(cs) == 1 && cs[0].IPv4 != ""
	})

	// key: a new pair; the private half comes once, on stdout.
	r := g.sshKey("alice", alice, "", "key", "box")
	if r.code != 0 || !strings.Contains(r.out, "BEGIN OPENSSH PRIVATE KEY") || !strings.Contains(r.err, "SHA256:") {
		t.Fatalf("key: %+v", r)
	}
	boxKey := filepath.Join(g.dir, "box-key")
	os.WriteFile(boxKey, []byte(r.out), 0o600)
	fp := strings.Fields(strings.SplitN(strings.SplitN(r.err, "(", 2)[1], ",", 2)[0])[0]
	waitFor(t, "ssh with the generated key", 30*time.Second, func() bool {
		r := fromClient(t, boxKey, hp, "id -un")
		return r.code == 0 && strings.TrimSpace(r.out) == "ubuntu"
	})
	if r := g.sshKey("alice", alice, "", "key", "box", "--list"); !strings.Contains(r.out, fp) || !strings.Contains(r.out, "lxcgate:alice:box:") {
		t.Fatalf("key --list: %+v", r)
	}

	// ssh -J through the gateway: own container yes; bob's, a host address
	// and an unpublished port no.
	cfg := g.jumpConfig("alice", alice, boxKey)
	r = runCmd(t, "", "ssh", "-F", cfg, "-J", "gw", "box", "hostname")
	if r.code != 0 || strings.TrimSpace(r.out) != "box" { // the instance's name, not its image's
		t.Fatalf("ssh -J gw box: %+v", r)
	}
	for _, dest := range [][]string{{"-p", "22", "10.166.0.1"}, {"-p", "80", "box"}, {"-p", "22", "nosuchbox"}} {
		args := append([]string{"-F", cfg, "-J", "gw"}, dest...)
		if r := runCmd(t, "", "ssh", append(args, "true")...); r.code == 0 {
			t.Errorf("ssh -J to %v succeeded", dest)
		}
	}
	bobCfg := g.jumpConfig("alice", alice, bob) // alice's gateway key, trying bob's box by name
	if r := runCmd(t, "", "ssh", "-F", bobCfg, "-J", "gw", "box", "true"); r.code == 0 && strings.Contains(r.out, "bob") {
		t.Fatalf("alice reached bob's box: %+v", r)
	}

	// --revoke: that key no longer gets in.
	if r := g.sshKey("alice", alice, "", "key", "box", "--revoke", fp); r.code != 0 {
		t.Fatalf("revoke: %+v", r)
	}
	if r := fromClient(t, boxKey, hp, "true"); r.code == 0 {
		t.Fatal("a revoked key still logs in")
	}
	// --mine: alice's own gateway key gets in.
	if r := g.sshKey("alice", alice, "", "key", "box", "--mine"); r.code != 0 {
		t.Fatalf("key --mine: %+v", r)
	}
	if r := fromClient(t, alice, hp, "id -un"); r.code != 0 {
		t.Fatalf("ssh with the gateway key after --mine: %+v", r)
	}
	// setpass, then a password login into the container.
	if r := g.sshKey("alice", alice, "box-pass-123\nbox-pass-123\n", "setpass", "box", "--stdin"); r.code != 0 {
		t.Fatalf("setpass: %+v", r)
	}
	r = runCmd(t, "", "ip", "netns", "exec", clientNS, "sshpass", "-p", "box-pass-123", "ssh", "-F", "/dev/null", "-p", fmt.Sprint(hp),
		"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "ubuntu@"+hostAddr, "id -un")
	if r.code != 0 || strings.TrimSpace(r.out) != "ubuntu" {
		t.Fatalf("password login after setpass: %+v", r)
	}

	// Bad input: clear errors, nothing changed.
	before := g.sshKey("alice", alice, "", "key", "box", "--list").out
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"keys", "add", "ssh-ed25519", "not-base64"}, "", "invalid public key"},
		{[]string{"key", "nosuch"}, "", `no such container "nosuch"`},
		{[]string{"key", "box", "--user", "ghost"}, "", `has no user "ghost"`},
		{[]string{"key", "box", "--user", "nobody"}, "", "no such file or directory in the container"},
		{[]string{"key", "box", "--revoke", "SHA256:nope"}, "", "has no key SHA256:nope"},
		{[]string{"setpass", "box"}, "", "needs a terminal"},
	} {
		r := g.sshKey("alice", alice, tc.stdin, tc.args...)
		if r.code == 0 || !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: %+v (want %q)", tc.args, r, tc.want)
		}
	}
	if after := g.sshKey("alice", alice, "", "key", "box", "--list").out; after != before {
		t.Fatalf("bad input changed the keys:\n%s\n%s", before, after)
	}
	g.sshKey("alice", alice, "", "stop", "box")
	if r := g.sshKey("alice", alice, "", "key", "box"); r.code == 0 || !strings.Contains(r.err, "box is stopped") {
		t.Fatalf("key on a stopped container: %+v", r)
	}

	// keys: self-service gateway keys.
	extra := g.newKey("extra")
	pub, _ := os.ReadFile(extra + ".pub")
	if r := g.sshKey("alice", alice, string(pub), "keys", "add"); r.code != 0 {
		t.Fatalf("keys add: %+v", r)
	}
	if r := g.sshKey("alice", extra, "", "whoami"); r.code != 0 {
		t.Fatalf("login with the added key: %+v", r)
	}
	if r := g.sshKey("bob", bob, string(pub), "keys", "add"); r.code == 0 || !strings.Contains(r.err, "already registered") {
		t.Fatalf("bob adds alice's key: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "sshconfig"); !strings.Contains(r.out, "ProxyJump alice@") || !strings.Contains(r.out, fmt.Sprintf("Port %d", hp)) {
		t.Fatalf("sshconfig: %+v", r)
	}
}
