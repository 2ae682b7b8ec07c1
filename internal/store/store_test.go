package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v1, err := Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != Latest() || v1 == 0 {
		t.Fatalf("version %d, latest %d", v1, Latest())
	}
	v2, err := Migrate(ctx, db)
	if err != nil || v2 != v1 {
		t.Fatalf("second migrate: %d, %v", v2, err)
	}
}

func TestPragmasOnEveryConnection(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(4)
	// Hold several connections at once so that the pool must open new ones.
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var fk, timeout int
		var mode string
		c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk)
		c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout)
		c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
		if fk != 1 || timeout != 5000 || mode != "wal" {
			t.Fatalf("conn %d: foreign_keys=%d busy_timeout=%d journal_mode=%s", i, fk, timeout, mode)
		}
	}
}

func TestNewerDatabaseIsRefused(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newer := fstest.MapFS{
		"0001_a.sql": {Data: []byte("CREATE TABLE a (x);")},
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x);")},
	}
	if v, err := migrate(ctx, db, newer); err != nil || v != 2 {
		t.Fatalf("migrate: %d %v", v, err)
	}
	older := fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x);")}}
	_, err = migrate(ctx, db, older)
	if !errors.Is(err, ErrTooNew) {
		t.Fatalf("want ErrTooNew, got %v", err)
	}
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bad := fstest.MapFS{
		"0001_a.sql": {Data: []byte("CREATE TABLE a (x);")},
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x); THIS IS NOT SQL;")},
	}
	v, err := migrate(ctx, db, bad)
	if err == nil || v != 1 {
		t.Fatalf("want failure at 2 after 1, got %d %v", v, err)
	}
	var n int
	db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'b'").Scan(&n)
	if n != 0 {
		t.Fatal("table b of the failed migration was left behind")
	}
}

func TestDatabaseIsOwnerOnly(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{file, file + "-wal"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %o", filepath.Base(f), st.Mode().Perm())
		}
	}
}
