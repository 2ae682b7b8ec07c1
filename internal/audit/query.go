package audit

import (
	"context"
	"errors"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// MaxRows bounds one Query.
const MaxRows = store.MaxAuditRows

// Entry is an event as the trail keeps it, with the time it was recorded.
// Readers of the trail (the shell's audit command) need only this package,
// not the store. Its fields are store.AuditEvent's, in the same order, so
// that one converts to the other; the build says when they part.
type Entry struct {
	At     time.Time
	Kind   string
	User   string
	Remote string
	Method string
	Detail string
	OK     bool
}

// Filter selects entries; zero fields match everything. Its fields are
// store.AuditFilter's, in the same order, for the same reason.
type Filter struct {
	User    string
	Kind    string
	Since   time.Time
	Command string // the command's name: its detail starts with this word
	Limit   int    // at most this many (MaxRows when zero or above)
}

// Query returns the entries f matches, newest first and bounded (MaxRows).
func (l *Log) Query(ctx context.Context, f Filter) ([]Entry, error) {
	if l.db == nil {
		return nil, errors.New("no audit table")
	}
	l.Sync()
	rows, err := l.table.Query(ctx, l.db, store.AuditFilter(f))
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = Entry(r)
	}
	return out, nil
}
