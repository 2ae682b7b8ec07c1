package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An admin manages users over SSH; a user gets the gate's refusal.
func TestAdminOverSSH(t *testing.T) {
	g := newGW(t)
	rootKey := g.addUser("root1", "root1-password", true)
	aliceKey := g.addUser("alice", "alice-password", false)
	g.start()
	if r := g.sshKey("alice", aliceKey, "", "user", "list"); r.code != 1 || !strings.Contains(r.err, "needs the admin role") {
		t.Fatalf("alice's user list: %+v", r)
	}
	if r := g.sshKey("root1", rootKey, "bob-password-1\n", "user", "add", "bob", "--password-stdin"); r.code != 0 || !strings.Contains(r.err, "Added bob (user).") {
		t.Fatalf("user add: %+v", r)
	}
	if r := g.sshKey("root1", rootKey, "", "user", "add", "carol"); r.code != 1 || !strings.Contains(r.err, "--password-stdin") {
		t.Fatalf("user add without a terminal: %+v", r)
	}
	if r := g.sshPassword("bob", "bob-password-1", "password", "whoami"); r.code != 0 || !strings.Contains(r.out, "bob (user)") {
		t.Fatalf("bob's login: %+v", r)
	}
	if r := g.sshKey("root1", rootKey, "", "user", "role", "bob", "admin"); r.code != 0 {
		t.Fatalf("user role: %+v", r)
	}
	if r := g.sshPassword("bob", "bob-password-1", "password", "user", "list", "--json"); r.code != 0 || !strings.Contains(r.out, `"name": "alice"`) {
		t.Fatalf("bob as admin: %+v", r)
	}
	if r := g.sshKey("root1", rootKey, "", "user", "disable", "bob"); r.code != 0 {
		t.Fatalf("user disable: %+v", r)
	}
	if r := g.sshPassword("bob", "bob-password-1", "password", "whoami"); r.code == 0 {
		t.Fatalf("disabled bob logged in: %+v", r)
	}
	if r := g.sshKey("root1", rootKey, "", "user", "role", "root1", "user"); r.code != 1 || !strings.Contains(r.err, "last enabled admin") {
		t.Fatalf("demoting the last admin: %+v", r)
	}
	if r := g.sshKey("root1", rootKey, "", "user", "del", "alice"); r.code != 0 {
		t.Fatalf("user del: %+v", r)
	}
	if r := g.sshKey("alice", aliceKey, "", "whoami"); r.code == 0 {
		t.Fatalf("deleted alice logged in: %+v", r)
	}
	db := openDB(t, g)
	var n int
	db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'command' AND user = 'root1' AND detail LIKE 'user %'`).Scan(&n)
	if n < 6 {
		t.Fatalf("%d user commands in the audit table, want at least 6", n)
	}
}

// A backup taken while the gateway serves is a working, owner-only copy.
func TestBackupWhileServing(t *testing.T) {
	g := newGW(t)
	g.addUser("alice", "alice-password", false)
	g.start()
	file := filepath.Join(t.TempDir(), "lxcgate-backup.db")
	g.mustLxcgate("", "backup", file)
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup: %v %v", st, err)
	}
	if _, errw, err := g.lxcgate("", "backup", file); err == nil || !strings.Contains(errw, "exists") {
		t.Fatalf("backup over a file: %v %s", err, errw)
	}
	restored := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(restored, 0o700)
	b, _ := os.ReadFile(file)
	os.WriteFile(filepath.Join(restored, "lxcgate.db"), b, 0o600)
	cmd := exec.Command(binary, "--data", restored, "user", "list")
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "alice") {
		t.Fatalf("restored copy: %v %s", err, out)
	}
}
