package e2e

import (
	"strings"
	"testing"
	"time"
)

// Users read their own logins; admins the whole trail; old rows go at start.
func TestAuditOverSSH(t *testing.T) {
	g := newGW(t, "LXCGATE_AUDIT_RETENTION=30d")
	rootKey := g.addUser("root1", "root1-password", true)
	aliceKey := g.addUser("alice", "alice-password", false)
	db := openDB(t, g) // migrated by user add
	if _, err := db.Exec(`INSERT INTO audit (at, kind, user, detail, ok) VALUES (?, 'login', 'alice', 'ancient', 1)`,
		time.Now().Add(-40*24*time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	g.start()
	g.sshKey("alice", aliceKey, "", "whoami")
	r := g.sshKey("alice", aliceKey, "", "audit")
	if r.code != 0 || !strings.Contains(r.out, "login") || !strings.Contains(r.out, "publickey") || strings.Contains(r.out, "whoami") {
		t.Fatalf("alice's audit: %+v", r)
	}
	if r := g.sshKey("alice", aliceKey, "", "audit", "--user", "root1"); r.code != 1 || !strings.Contains(r.err, "needs the admin role") {
		t.Fatalf("alice's audit --user: %+v", r)
	}
	r = g.sshKey("root1", rootKey, "", "audit", "--user", "alice", "--command", "whoami", "--json")
	if r.code != 0 || !strings.Contains(r.out, `"detail": "whoami => ok"`) {
		t.Fatalf("root1's audit: %+v", r)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM audit WHERE detail = 'ancient'`).Scan(&n)
	if n != 0 || !strings.Contains(g.logs(), "audit rows pruned") {
		t.Fatalf("old row kept (%d):\n%s", n, g.logs())
	}
}
