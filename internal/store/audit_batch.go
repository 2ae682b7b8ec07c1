package store

import (
	"context"
	"strings"
)

// AuditBatchMax is the most rows one InsertAudit statement carries.
const AuditBatchMax = 16

// auditInserts[n] inserts n rows in one statement (n <= AuditBatchMax):
// constant texts, so that a Prepared keeps one statement per size.
var auditInserts = func() []string {
	out := make([]string, AuditBatchMax+1)
	for n := 1; n <= AuditBatchMax; n++ {
		out[n] = `INSERT INTO audit (at, kind, user, remote, method, detail, ok) VALUES ` +
			strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?), `, n), ", ")
	}
	return out
}()

// InsertAudit appends events, up to AuditBatchMax of them a statement.
// Run on a *sql.DB (or a Prepared over one), each statement is a
// transaction of its own: a batch costs one commit per AuditBatchMax rows,
// and a failure leaves the statements before it committed.
func InsertAudit(ctx context.Context, q Querier, events []AuditEvent) error {
	for len(events) > 0 {
		n := min(len(events), AuditBatchMax)
		args := make([]any, 0, 7*n)
		for _, e := range events[:n] {
			e = e.escaped()
			args = append(args, e.At.Unix(), e.Kind, e.User, e.Remote, e.Method, e.Detail, e.OK)
		}
		if _, err := q.ExecContext(ctx, auditInserts[n], args...); err != nil {
			return mapErr(err)
		}
		events = events[n:]
	}
	return nil
}
