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
	db, err := store.Open(filepath.Join(t.TempDir(), "lxcgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}
