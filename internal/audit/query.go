package audit

import (
	"context"
	"errors"

	"github.com/lxcgate/lxcgate/internal/store"
)

// MaxRows bounds one Query.
const MaxRows = store.MaxAuditRows

// Entry is an event as the trail keeps it, with the time it was recorded.
// Readers of the trail (the shell's audit command) name only this package;
// the row itself is declared once, in the store.
type Entry = store.AuditEvent

// Filter selects entries; zero fields match everything, and a Limit of
// zero or above MaxRows means MaxRows.
type Filter = store.AuditFilter

// Query returns the entries f matches, newest first and bounded (MaxRows).
func (l *Log) Query(ctx context.Context, f Filter) ([]Entry, error) {
	if l.db == nil {
		return nil, errors.New("no audit table")
	}
	l.Sync()
	return l.table.Query(ctx, l.db, f)
}
