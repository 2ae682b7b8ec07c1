package store

import (
	"context"
	"strings"
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
	// Query returns the events f matches, newest first, at most f.Limit
	// (MaxAuditRows when zero or above).
	Query(ctx context.Context, q Querier, f AuditFilter) ([]AuditEvent, error)
	// Prune deletes the events before t and returns how many went.
	Prune(ctx context.Context, q Querier, before time.Time) (int64, error)
	// Trim deletes the oldest events beyond the newest keep and returns
	// how many went.
	Trim(ctx context.Context, q Querier, keep int64) (int64, error)
}

// MaxAuditRows bounds one audit query.
const MaxAuditRows = 1000

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	User    string
	Kind    string
	Since   time.Time
	Command string // the command's name: its detail starts with this word
	Limit   int
}

type auditTable struct{}

var _ Audit = (*auditTable)(nil)

func (auditTable) Insert(ctx context.Context, q Querier, e AuditEvent) error {
	e = e.escaped()
	_, err := q.ExecContext(ctx, `INSERT INTO audit (at, kind, user, remote, method, detail, ok) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.At.Unix(), e.Kind, e.User, e.Remote, e.Method, e.Detail, e.OK)
	return mapErr(err)
}

func (t auditTable) Recent(ctx context.Context, q Querier, limit int) ([]AuditEvent, error) {
	return t.query(ctx, q, `SELECT at, kind, user, remote, method, detail, ok FROM audit ORDER BY id DESC LIMIT ?`, limit)
}

func (t auditTable) Query(ctx context.Context, q Querier, f AuditFilter) ([]AuditEvent, error) {
	where, args := []string{"1=1"}, []any{}
	if f.User != "" {
		where, args = append(where, "user = ?"), append(args, f.User)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, f.Since.Unix())
	}
	if f.Command != "" {
		// The detail is the quoted argv: the name, then a space or " => ".
		where = append(where, "kind = 'command'", "(detail = ? OR substr(detail, 1, ?) = ?)")
		args = append(args, f.Command, len(f.Command)+1, f.Command+" ")
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxAuditRows {
		limit = MaxAuditRows
	}
	args = append(args, limit)
	return t.query(ctx, q, `SELECT at, kind, user, remote, method, detail, ok FROM audit WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
}

func (auditTable) Prune(ctx context.Context, q Querier, before time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM audit WHERE at < ?`, before.Unix())
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

// trimBatch bounds one Trim statement, so that cutting a flood of a million
// rows never holds the write lock for long.
const trimBatch = 10_000

// Trim relies on ids growing with each insert (INTEGER PRIMARY KEY, and
// only the oldest rows are ever deleted): the rows above max(id) - keep
// are at most keep.
func (auditTable) Trim(ctx context.Context, q Querier, keep int64) (int64, error) {
	var total int64
	for {
		res, err := q.ExecContext(ctx, `DELETE FROM audit WHERE id IN (SELECT id FROM audit
			WHERE id <= (SELECT max(id) FROM audit) - ? ORDER BY id LIMIT ?)`, keep, trimBatch)
		if err != nil {
			return total, mapErr(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, mapErr(err)
		}
		total += n
		if n < trimBatch {
			return total, nil
		}
	}
}

func (auditTable) query(ctx context.Context, q Querier, query string, args ...any) ([]AuditEvent, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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
