package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Querier is what every table's SQL runs against: *sql.DB, *sql.Tx and
// *sql.Conn all satisfy it, so the caller decides whether a call stands
// alone or is one step of a transaction (see Tx).
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ Querier = (*sql.DB)(nil)
	_ Querier = (*sql.Tx)(nil)
	_ Querier = (*sql.Conn)(nil)
)

// UserID is a row id of the users table.
type UserID int64

// ContainerID is a row id of the containers table.
type ContainerID int64

// VolumeID is a row id of the volumes table.
type VolumeID int64

// Store gathers one small interface per table. The methods hold no state:
// every one takes the Querier to run on.
type Store struct {
	Users         Users
	UserKeys      UserKeys
	Containers    Containers
	Ports         Ports
	Pins          Pins
	ContainerKeys ContainerKeys
	Quotas        Quotas
	Audit         Audit
	WebLinks      WebLinks
	WebSessions   WebSessions
	APITokens     APITokens
	GPUHistory    GPUHistory
	Routed        RoutedAddresses
	Volumes       Volumes
	Invites       Invites
	Queue         Queue
	UsageDays     UsageDays
	Outbox        Outbox
}

// New returns the SQLite implementation of every table.
func New() *Store {
	return &Store{
		Users:         userTable{},
		UserKeys:      userKeyTable{},
		Containers:    containerTable{},
		Ports:         portTable{},
		Pins:          pinTable{},
		ContainerKeys: containerKeyTable{},
		Quotas:        quotaTable{},
		Audit:         auditTable{},
		WebLinks:      webLinkTable{},
		WebSessions:   webSessionTable{},
		APITokens:     apiTokenTable{},
		GPUHistory:    gpuHistoryTable{},
		Routed:        routedTable{},
		Volumes:       volumeTable{},
		Invites:       inviteTable{},
		Queue:         queueTable{},
		UsageDays:     usageTable{},
		Outbox:        outboxTable{},
	}
}

// txAttempts bounds how often Tx runs fn when SQLite stays busy beyond
// the connection's busy_timeout.
const txAttempts = 5

// Tx runs fn in one write transaction and commits when fn returns nil.
//
// Open sets _txlock=immediate, so the transaction starts with BEGIN
// IMMEDIATE: it takes SQLite's write lock before fn reads anything, which
// makes a read followed by a write (a quota check and its reservation) one
// step for every connection and every process on the database, and never
// fails later with SQLITE_BUSY_SNAPSHOT. Waiting for the lock is
// busy_timeout's job; should the database stay busy beyond it, the whole
// transaction is tried again a few times, so fn must do nothing but
// database work through q. (On a database opened without _txlock, a
// transaction that reads, then loses the race to write, fails with
// SQLITE_BUSY_SNAPSHOT: that is ErrBusy too, and is tried again the same
// way.)
func Tx(ctx context.Context, db *sql.DB, fn func(q Querier) error) error {
	var err error
	for attempt := 1; attempt <= txAttempts; attempt++ {
		err = tx(ctx, db, fn)
		if !errors.Is(err, ErrBusy) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt*attempt) * 10 * time.Millisecond):
		}
	}
	return err
}

func tx(ctx context.Context, db *sql.DB, fn func(q Querier) error) (err error) {
	t, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", mapErr(err))
	}
	defer func() {
		// On failure or panic the transaction is rolled back; the error
		// that matters is fn's or Commit's, and a rollback of a
		// transaction that failed to commit has nothing left to undo.
		if r := recover(); r != nil {
			_ = t.Rollback()
			panic(r)
		}
		if err != nil {
			_ = t.Rollback()
		}
	}()
	if err = fn(t); err != nil {
		return err
	}
	if err = t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

// column runs a query for one text column and returns its values.
func column(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, s)
	}
	return out, mapErr(rows.Err())
}
