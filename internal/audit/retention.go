package audit

import (
	"context"
	"time"
)

// Prune deletes the events older than age and returns how many went.
func (l *Log) Prune(ctx context.Context, age time.Duration) (int64, error) {
	if l.db == nil {
		return 0, nil
	}
	return l.table.Prune(ctx, l.db, time.Now().Add(-age))
}

// Retain prunes events older than age now and then every interval until
// ctx ends; age 0 keeps everything. Failures are logged and retried at
// the next turn.
func (l *Log) Retain(ctx context.Context, age, interval time.Duration) {
	if age <= 0 {
		return
	}
	for {
		n, err := l.Prune(ctx, age)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Error("audit prune failed", "err", err)
		case n > 0:
			l.log.Info("audit rows pruned", "rows", n, "older_than", age.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Cap keeps at most maxRows rows, deleting the oldest, now and then every
// interval until ctx ends; maxRows 0 keeps every row. Age alone does not
// bound the table: a flood can outrun it.
func (l *Log) Cap(ctx context.Context, maxRows int64, interval time.Duration) {
	if maxRows <= 0 || l.db == nil {
		return
	}
	for {
		n, err := l.table.Trim(ctx, l.db, maxRows)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Error("audit prune failed", "err", err)
		case n > 0:
			l.log.Info("audit rows pruned", "rows", n, "beyond_max_rows", maxRows)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
