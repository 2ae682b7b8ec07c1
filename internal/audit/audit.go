// Package audit records logins, commands and refusals, both in the audit
// table and in the structured log. It never records secrets: callers pass
// argv, never what was typed at a password prompt.
package audit

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// Kinds of audit records.
const (
	KindLogin   = "login"
	KindCommand = "command"
	KindRefusal = "refusal"
	// KindAuto is what the gateway did by itself (an idle or expired stop).
	KindAuto = "auto"
)

// Event is one audit record.
type Event struct {
	Kind   string
	User   string
	Remote string
	Method string // authentication method, or the refused request type
	Detail string // argv of a command, or why something was refused
	OK     bool
}

// Log writes audit events.
//
// Rows are group-committed: Record returns once its row is in the table,
// and rows recorded at once by concurrent sessions share one transaction
// and one prepared statement. Under load a login then costs a fraction of
// an insert and commit; alone, a row is written as before. Nothing is ever
// queued past Record's return, so a shutdown loses no row.
type Log struct {
	db    *sql.DB
	hot   *store.Prepared
	table store.Audit
	log   *slog.Logger

	mu      sync.Mutex
	pending *batch     // the batch new rows join; nil when none
	wmu     sync.Mutex // held by the batch being written
}

// batch is rows written together; done closes once they are.
type batch struct {
	rows []store.AuditEvent
	done chan struct{}
}

// maxBatch bounds the rows of one transaction.
const maxBatch = 256

// New returns a Log writing to db (may be nil in tests) and logger.
func New(db *sql.DB, logger *slog.Logger) *Log {
	l := &Log{db: db, table: store.New().Audit, log: logger.With("component", "audit")}
	if db != nil {
		l.hot = store.NewPrepared(db)
	}
	return l
}

// Bounds on a record's fields. Callers pass names through SafeName; these
// only stop a mistake from storing megabytes of hostile input.
const (
	maxShortField = 256
	maxDetail     = 8 << 10
)

// Record writes e. A failure to write the table is logged, never returned:
// the audit trail must not turn a good command into a failed one.
func (l *Log) Record(ctx context.Context, e Event) {
	e.User, e.Remote, e.Method = clamp(e.User, maxShortField), clamp(e.Remote, maxShortField), clamp(e.Method, maxShortField)
	e.Detail = clamp(e.Detail, maxDetail)
	level := slog.LevelInfo
	if !e.OK {
		level = slog.LevelWarn
	}
	l.log.Log(ctx, level, e.Kind, "user", e.User, "remote", e.Remote, "method", e.Method, "detail", e.Detail, "ok", e.OK)
	if l.db == nil {
		return
	}
	l.write(store.AuditEvent{At: time.Now(), Kind: e.Kind, User: e.User, Remote: e.Remote,
		Method: e.Method, Detail: e.Detail, OK: e.OK})
}

// write returns once row is written (or its write failed, which is
// logged). The first row of a batch leads it: it waits for the write in
// progress, if any, while later rows join its batch, then writes the batch
// and wakes them. Alone, a row is written at once.
func (l *Log) write(row store.AuditEvent) {
	l.mu.Lock()
	b, lead := l.pending, false
	if b == nil || len(b.rows) >= maxBatch {
		b, lead = &batch{done: make(chan struct{})}, true
		l.pending = b
	}
	b.rows = append(b.rows, row)
	l.mu.Unlock()
	if !lead {
		<-b.done
		return
	}
	l.wmu.Lock()
	l.mu.Lock()
	if l.pending == b {
		l.pending = nil // b takes no more rows
	}
	l.mu.Unlock()
	l.insert(b.rows)
	l.wmu.Unlock()
	close(b.done)
}

// insert writes rows, in one transaction when there are several.
func (l *Log) insert(rows []store.AuditEvent) {
	// Detached from any session: a dropped session must still leave its record.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if len(rows) > 1 {
		err := store.Tx(ctx, l.db, func(q store.Querier) error {
			tx, _ := q.(*sql.Tx)
			if tx != nil {
				q = l.hot.InTx(tx)
			}
			for _, r := range rows {
				if err := l.table.Insert(ctx, q, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			return
		}
		// Row by row, so that one bad row costs only itself.
	}
	for _, r := range rows {
		if err := l.table.Insert(ctx, l.hot, r); err != nil {
			l.log.Error("audit write failed", "err", err)
		}
	}
}
