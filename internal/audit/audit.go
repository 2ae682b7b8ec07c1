// Package audit records logins, commands and refusals, both in the audit
// table and in the structured log. It never records secrets: callers pass
// argv, never what was typed at a password prompt.
package audit

import (
	"context"
	"database/sql"
	"log/slog"
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
type Log struct {
	db    *sql.DB
	table store.Audit
	log   *slog.Logger
}

// New returns a Log writing to db (may be nil in tests) and logger.
func New(db *sql.DB, logger *slog.Logger) *Log {
	return &Log{db: db, table: store.New().Audit, log: logger.With("component", "audit")}
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
	// Detached from ctx: a dropped session must still leave its record.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := l.table.Insert(wctx, l.db, store.AuditEvent{At: time.Now(), Kind: e.Kind, User: e.User, Remote: e.Remote,
		Method: e.Method, Detail: e.Detail, OK: e.OK})
	if err != nil {
		l.log.Error("audit write failed", "err", err)
	}
}
