// Package storetest gives tests a migrated database in a temporary file.
package storetest

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/lxcgate/lxcgate/internal/store"
)

// Open returns a migrated SQLite database that is closed when t ends.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	return OpenFile(t, filepath.Join(t.TempDir(), "lxcgate.db"))
}

// OpenFile opens and migrates the database in file, closing it when t
// ends: tests that need two handles on one database open it twice.
func OpenFile(t testing.TB, file string) *sql.DB {
	t.Helper()
	db, err := store.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}
