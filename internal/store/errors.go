package store

import (
	"database/sql"
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of the database that callers match with errors.Is. They are
// decided here, once, from SQLite's extended result codes; nothing else
// looks at a database error's text.
var (
	// ErrNotFound: the row asked for does not exist (sql.ErrNoRows, or an
	// update or delete that touched no row).
	ErrNotFound = errors.New("not found")
	// ErrUnique: a UNIQUE or PRIMARY KEY constraint refused the row.
	ErrUnique = errors.New("already exists")
	// ErrForeignKey: a FOREIGN KEY constraint refused the change.
	ErrForeignKey = errors.New("foreign key violated")
	// ErrConstraint: another constraint (CHECK, NOT NULL) refused the row.
	ErrConstraint = errors.New("constraint violated")
	// ErrBusy: the database stayed locked beyond busy_timeout.
	ErrBusy = errors.New("database is busy")
	// ErrFull: the filesystem of the database is full.
	ErrFull = errors.New("disk full")
)

// dbError keeps the driver's error, and its message, while matching the
// sentinel it maps to.
type dbError struct {
	kind error
	err  error
}

func (e *dbError) Error() string {
	// What the one who typed the command can act on; SQLite's words
	// ("database is locked (5) (SQLITE_BUSY)") are for the log.
	switch e.kind {
	case ErrBusy:
		return "the database is busy (another program holds it locked); try again in a moment"
	case ErrFull:
		return "the gateway's disk is full (its data directory); an admin must free space, then try again"
	}
	return e.err.Error()
}
func (e *dbError) Unwrap() []error { return []error{e.kind, e.err} }

// mapErr returns err matching the sentinel its SQLite code stands for, or
// err itself when none does. Every table's methods pass their errors
// through it.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if kind := kindOf(err); kind != nil {
		if errors.Is(err, kind) {
			return err // mapped already
		}
		return &dbError{kind: kind, err: err}
	}
	return err
}

func kindOf(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch code := se.Code(); code {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return ErrUnique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return ErrForeignKey
	default:
		switch code & 0xff { // the primary result code
		case sqlite3.SQLITE_CONSTRAINT:
			return ErrConstraint
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return ErrBusy
		case sqlite3.SQLITE_FULL:
			return ErrFull
		}
	}
	return nil
}

// affected turns an update or delete that touched no row into
// ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
