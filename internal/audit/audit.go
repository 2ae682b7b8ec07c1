// Package audit records logins, commands and refusals, both in the audit
// table and in the structured log. It never records secrets: callers pass
// argv, never what was typed at a password prompt.
package audit

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"slices"
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
	KindWeb  = "web" // a request for a page of the web listener
	KindAPI  = "api" // a request of the JSON API
	// KindSession is a session into a container (alice+box): kind,
	// container, user inside, bytes, duration and exit status, never content.
	KindSession = "session"
	// KindApp is a web app session through the apps listener: user,
	// container, app, requests, bytes and duration, never URLs or bodies.
	KindApp = "app"
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
// Rows are group-committed: rows recorded at once by concurrent sessions
// share one transaction and prepared statements, so that under load a
// login costs a fraction of an insert and a commit. Record returns once its
// row is in the table. RecordSoon returns at once and the row follows
// within flushDelay, or sooner with the next Record or Sync; the server
// uses it for successful logins and calls Sync before a session's exit
// status, so that a client that sees its command end finds its rows in the
// table. Shutdown calls Sync: a clean stop loses no row.
type Log struct {
	db    *sql.DB
	hot   *store.Prepared
	table store.Audit
	log   *slog.Logger

	mu      sync.Mutex
	pending *batch     // the batch new rows join; nil when none
	writing *batch     // the batch being written; nil when none
	wmu     sync.Mutex // held while a batch is written: batches go in order
	// unwritten are rows a write failed on (a full disk, a locked
	// database), tried again first with the next batch; under wmu.
	unwritten []store.AuditEvent
}

// maxUnwritten bounds the rows kept for another try: past it the oldest
// go (each was logged when recorded, so the log still has them).
const maxUnwritten = 10000

// batch is rows written together; done closes once they are.
type batch struct {
	rows []store.AuditEvent
	led  bool // someone has undertaken to write it; under Log.mu
	done chan struct{}
}

// flushDelay bounds how long a row from RecordSoon waits for company.
const flushDelay = 50 * time.Millisecond

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
	if row, ok := l.row(ctx, e); ok {
		l.write(row, true)
	}
}

// RecordSoon is Record without waiting for the table: the row is written
// within flushDelay, or with the next Record or Sync, whichever is first.
func (l *Log) RecordSoon(ctx context.Context, e Event) {
	if row, ok := l.row(ctx, e); ok {
		l.write(row, false)
	}
}

// Soon is l recording through RecordSoon, for a caller whose rows a Sync
// follows before anyone looks (the shell's: the server syncs before every
// exit status, the audit command before it reads).
func (l *Log) Soon() Soon { return Soon{l} }

// Soon records through Log.RecordSoon.
type Soon struct{ l *Log }

// Record is Log.RecordSoon.
func (s Soon) Record(ctx context.Context, e Event) { s.l.RecordSoon(ctx, e) }

// Sync returns once every row recorded before it is in the table.
func (l *Log) Sync() {
	if l.db == nil {
		return
	}
	l.mu.Lock()
	b := l.pending
	if b == nil {
		b = l.writing
	}
	if b == nil {
		l.mu.Unlock()
		return
	}
	l.take(b, true) // a batch is written only after the one before it
}

// row logs e and returns its row for the table, when there is a table.
func (l *Log) row(ctx context.Context, e Event) (store.AuditEvent, bool) {
	e.User, e.Remote, e.Method = clamp(e.User, maxShortField), clamp(e.Remote, maxShortField), clamp(e.Method, maxShortField)
	e.Detail = clamp(e.Detail, maxDetail)
	level := slog.LevelInfo
	if !e.OK {
		level = slog.LevelWarn
	}
	if l.log.Enabled(ctx, level) { // the arguments cost allocations even when the level is off
		l.log.Log(ctx, level, e.Kind, "user", e.User, "remote", e.Remote, "method", e.Method, "detail", e.Detail, "ok", e.OK)
	}
	if l.db == nil {
		return store.AuditEvent{}, false
	}
	return store.AuditEvent{At: time.Now(), Kind: e.Kind, User: e.User, Remote: e.Remote,
		Method: e.Method, Detail: e.Detail, OK: e.OK}, true
}

// write adds row to the pending batch. With wait, it returns once the
// batch is written, writing it itself when nobody has undertaken to: it
// then waits for the batch being written, while later rows join its own.
// Without wait, a new batch gets a timer that writes it after flushDelay
// unless someone else has by then.
func (l *Log) write(row store.AuditEvent, wait bool) {
	l.mu.Lock()
	b := l.pending
	if b == nil {
		b = &batch{done: make(chan struct{})}
		l.pending = b
		if !wait {
			time.AfterFunc(flushDelay, func() { l.claim(b) })
		}
	}
	b.rows = append(b.rows, row)
	if !wait {
		l.mu.Unlock()
		return
	}
	l.take(b, true)
}

// claim writes b unless someone has undertaken to.
func (l *Log) claim(b *batch) {
	l.mu.Lock()
	l.take(b, false)
}

// take, called with l.mu held, releases it and writes b unless someone
// has undertaken to; with wait, it returns once b is written either way.
func (l *Log) take(b *batch, wait bool) {
	if b.led {
		l.mu.Unlock()
		if wait {
			<-b.done
		}
		return
	}
	b.led = true
	l.mu.Unlock()
	l.lead(b)
}

// lead writes b, after the batch being written.
func (l *Log) lead(b *batch) {
	l.wmu.Lock()
	l.mu.Lock()
	if l.pending == b {
		l.pending = nil // b takes no more rows
	}
	l.writing = b
	l.mu.Unlock()
	l.insert(b.rows)
	l.mu.Lock()
	l.writing = nil
	l.mu.Unlock()
	l.wmu.Unlock()
	close(b.done)
}

// insert writes rows: a handful of them in one statement, and so one
// commit; should that fail, row by row, so that a bad row costs only
// itself.
func (l *Log) insert(rows []store.AuditEvent) {
	// Detached from any session: a dropped session must still leave its record.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if len(l.unwritten) > 0 {
		rows = append(l.unwritten, rows...)
		l.unwritten = nil
	}
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), store.AuditBatchMax)]
		rows = rows[len(chunk):]
		if len(chunk) > 1 && store.InsertAudit(ctx, l.hot, chunk) == nil {
			continue
		}
		for i, r := range chunk {
			err := l.table.Insert(ctx, l.hot, r)
			if err == nil {
				continue
			}
			if errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrBusy) {
				// The next rows would fail alike: keep them all for the
				// next batch, which comes with the next event.
				l.keep(slices.Concat(chunk[i:], rows))
				l.log.Error("audit write failed; the rows are kept and tried again with the next ones", "rows", len(l.unwritten), "err", err)
				return
			}
			l.log.Error("audit write failed", "err", err)
		}
	}
}

// keep holds rows for another try, the newest maxUnwritten.
func (l *Log) keep(rows []store.AuditEvent) {
	if over := len(rows) - maxUnwritten; over > 0 {
		l.log.Error("audit rows dropped after failed writes; the log has them", "rows", over)
		rows = rows[over:]
	}
	l.unwritten = append([]store.AuditEvent(nil), rows...)
}
