package store

import (
	"context"
	"time"
)

// AuditEvent is a row of audit. It names users by name, so that the trail
// outlives them.
type AuditEvent struct {
	At     time.Time
	Kind   string
	User   string
	Remote string
	Method string
	Detail string
	OK     bool
}

// Audit is the audit table.
type Audit interface {
	// Insert appends an event.
	Insert(ctx context.Context, q Querier, e AuditEvent) error
	// Recent returns up to limit events, newest first.
	Recent(ctx context.Context, q Querier, limit int) ([]AuditEvent, error)
}

type auditTable struct{}

var _ Audit = (*auditTable)(nil)

func (auditTable) Insert(ctx context.Context, q Querier, e AuditEvent) error {
	_, err := q.ExecContext(ctx, `INSERT INTO audit (at, kind, user, remote, method, detail, ok) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.At.Unix(), e.Kind, e.User, e.Remote, e.Method, e.Detail, e.OK)
	return mapErr(err)
}

func (auditTable) Recent(ctx context.Context, q Querier, limit int) ([]AuditEvent, error) {
	rows, err := q.QueryContext(ctx, `SELECT at, kind, user, remote, method, detail, ok FROM audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []AuditEvent{}
	for rows.Next() {
		var e AuditEvent
		var at int64
		if err := rows.Scan(&at, &e.Kind, &e.User, &e.Remote, &e.Method, &e.Detail, &e.OK); err != nil {
			return nil, mapErr(err)
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}
