package e2e

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDataDiskFull fills the filesystem of the gateway's data directory (a
// small tmpfs) while it serves: logins and reads go on, a write fails with
// one line that names the cause, the gateway stays up; once space is
// freed, writes work again and the audit trail takes new rows.
func TestDataDiskFull(t *testing.T) {
	g := newGW(t)
	data := filepath.Join(g.dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", data).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	g.must("alice", alice, "", "whoami")
	g.must("alice", alice, "", "email", "a1@example.org")

	filler := filepath.Join(data, "filler")
	exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=1M").Run() // until ENOSPC
	t.Cleanup(func() { os.Remove(filler) })

	// Full: a read works; a write says why in one line; nothing crashes.
	if r := g.sshKey("alice", alice, "", "whoami"); r.code != 0 {
		t.Fatalf("whoami on a full disk: %+v", r)
	}
	r := g.sshKey("alice", alice, "", "email", "a2@example.org")
	msg := strings.TrimSpace(r.out + r.err)
	if r.code == 0 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "disk") || strings.Contains(msg, "SQLITE") {
		t.Fatalf("a write on a full disk: %+v", r)
	}
	select {
	case err := <-g.exited:
		t.Fatalf("the gateway exited on a full disk: %v\n%s", err, g.logs())
	default:
	}

	// Freed: writes work again, and the trail records.
	os.Remove(filler)
	waitFor(t, "a write after space was freed", 10*time.Second, func() bool {
		return g.sshKey("alice", alice, "", "email", "a3@example.org").code == 0
	})
	if r := g.must("alice", alice, "", "email"); !strings.Contains(r.out, "a3@example.org") {
		t.Fatalf("email after: %+v", r)
	}
	t.Logf("the refusal while full: %q", msg)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "lxcgate.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM audit WHERE user = 'alice' AND kind = 'command' AND ok = 1 AND detail LIKE 'email%'`).Scan(&n); err != nil || n < 2 {
		t.Fatalf("audit rows of alice's email commands after the disk was freed: %d, %v", n, err)
	}
	// The rows of the full time were kept and written once it could: the
	// whoami before and the one while full, and the refused email.
	if err := db.QueryRow(`SELECT count(*) FROM audit WHERE user = 'alice' AND kind = 'command' AND detail LIKE 'whoami%'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("whoami rows: %d, %v", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM audit WHERE user = 'alice' AND kind = 'command' AND ok = 0 AND detail LIKE '%disk is full%'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the refused email's row: %d, %v", n, err)
	}
}
