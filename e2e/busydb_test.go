package e2e

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDatabaseHeldByOthers: an outside reader holding a read transaction
// (a monitoring script, a long query) does not stop logins or commands;
// an outside writer holding the write lock past the busy timeout makes
// writes fail with one line that says to retry, reads go on, nothing is
// half done; and once it lets go, all works again. A backup taken
// meanwhile is whole.
func TestDatabaseHeldByOthers(t *testing.T) {
	g := newGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	g.must("alice", alice, "", "whoami")
	file := filepath.Join(g.dir, "data", "lxcgate.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(100)")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	ctx := context.Background()

	// A reader in a long transaction.
	reader, err := open().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := reader.QueryRow(`SELECT count(*) FROM audit`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"a1@example.org", "a2@example.org"} {
		g.must("alice", alice, "", "whoami")
		g.must("alice", alice, "", "email", addr) // a write beside the reader (WAL)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	g.mustLxcgate("", "backup", backup)
	reader.Rollback()

	// A writer holding the write lock for longer than the gateway waits.
	w := open()
	if _, err := w.Exec(`BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	held := time.Now()
	r := g.sshKey("alice", alice, "", "email", "alice@example.org")
	if r.code == 0 {
		t.Fatalf("a write while the database was held: %+v", r)
	}
	msg := strings.TrimSpace(r.out + r.err)
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "busy") || !strings.Contains(msg, "again") {
		t.Fatalf("the refusal while held: %q", msg)
	}
	if time.Since(held) > 15*time.Second {
		t.Fatalf("the refusal took %v", time.Since(held))
	}
	// Reads go on.
	g.must("alice", alice, "", "whoami")
	if _, err := w.Exec(`ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	// Let go: the same write works, once.
	g.must("alice", alice, "", "email", "alice@example.org")
	if r := g.must("alice", alice, "", "email"); !strings.Contains(r.out, "alice@example.org") {
		t.Fatalf("email after the hold: %+v", r)
	}
	// The backup taken under the reader opens and holds the users.
	b, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.QueryRow(`SELECT count(*) FROM users WHERE name = 'alice'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the backup: %d users named alice, %v", n, err)
	}
}
