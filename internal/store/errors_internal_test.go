package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"modernc.org/sqlite"
)

func migrated(t *testing.T) (*sql.DB, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := Open(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db, file
}

// Every constraint SQLite reports maps to its sentinel by code, keeping
// the driver's message and error.
func TestErrorMapping(t *testing.T) {
	ctx := context.Background()
	db, _ := migrated(t)
	if _, err := db.Exec(`INSERT INTO users (id, name, created_at, updated_at) VALUES (1, 'alice', 0, 0);
		INSERT INTO containers (id, user_id, name, created_at) VALUES (1, 1, 'dev', 0);
		INSERT INTO snapshot_pins (container_id, name) VALUES (1, 's1')`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sql string
		want      error
	}{
		{"unique", `INSERT INTO users (name, created_at, updated_at) VALUES ('alice', 0, 0)`, ErrUnique},
		{"composite unique", `INSERT INTO containers (user_id, name, created_at) VALUES (1, 'dev', 0)`, ErrUnique},
		{"primary key", `INSERT INTO snapshot_pins (container_id, name) VALUES (1, 's1')`, ErrUnique},
		{"foreign key", `INSERT INTO containers (user_id, name, created_at) VALUES (99, 'x', 0)`, ErrForeignKey},
		{"foreign key on delete", `DELETE FROM users WHERE id = 1`, ErrForeignKey},
		{"check", `INSERT INTO users (name, role, created_at, updated_at) VALUES ('bob', 'root', 0, 0)`, ErrConstraint},
		{"not null", `INSERT INTO users (name, created_at, updated_at) VALUES (NULL, 0, 0)`, ErrConstraint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, raw := db.ExecContext(ctx, tc.sql)
			err := mapErr(raw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("%v: want %v", raw, tc.want)
			}
			for _, other := range []error{ErrUnique, ErrForeignKey, ErrConstraint, ErrNotFound, ErrBusy} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
			var se *sqlite.Error
			if !errors.As(err, &se) || err.Error() != raw.Error() {
				t.Errorf("driver error lost: %v", err)
			}
		})
	}
	err := mapErr(db.QueryRow(`SELECT id FROM users WHERE name = 'nobody'`).Scan(new(int)))
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("no rows: %v", err)
	}
	if mapErr(nil) != nil {
		t.Error("nil mapped to an error")
	}
	plain := errors.New("plain")
	if mapErr(plain) != plain {
		t.Error("an error without a code changed")
	}
	if err := mapErr(mapErr(sql.ErrNoRows)); strings.Count(err.Error(), "no rows") != 1 {
		t.Errorf("mapped twice: %v", err)
	}
}

// A write lock held longer than busy_timeout is ErrBusy.
func TestBusyIsErrBusy(t *testing.T) {
	ctx := context.Background()
	db, file := migrated(t)
	impatient, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec(`INSERT INTO users (name, created_at, updated_at) VALUES ('alice', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	_, err = impatient.Exec(`INSERT INTO users (name, created_at, updated_at) VALUES ('bob', 0, 0)`)
	if err = mapErr(err); !errors.Is(err, ErrBusy) {
		t.Fatalf("want ErrBusy, got %v", err)
	}
	// What a user reads says what to do, not SQLite's code.
	if msg := err.Error(); strings.Contains(msg, "SQLITE") || !strings.Contains(msg, "try again") {
		t.Fatalf("the message: %q", msg)
	}
}
