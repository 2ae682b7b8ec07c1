package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// OutboxItem is a notice on its way to one channel.
type OutboxItem struct {
	ID       int64
	Owner    string
	Kind     string
	Dedupe   string // "": not once-only
	Channel  string // webhook or email
	Target   string // the address, for email
	Text     string
	Created  time.Time
	Attempts int
	Next     time.Time
}

// Outbox is the outbox table and the users' notice addresses.
type Outbox interface {
	// Add queues an item and returns its id; 0 when its dedupe key was
	// queued before.
	Add(ctx context.Context, q Querier, it OutboxItem) (int64, error)
	// Due returns up to n unsent items due by now, oldest first.
	Due(ctx context.Context, q Querier, now time.Time, n int) ([]OutboxItem, error)
	// Sent marks an item delivered.
	Sent(ctx context.Context, q Querier, id int64, at time.Time) error
	// Failed records a failed try and when to try again.
	Failed(ctx context.Context, q Querier, id int64, msg string, next time.Time) error
	// Prune drops items sent (or given up) before before.
	Prune(ctx context.Context, q Querier, before time.Time) error
	// SetEmail sets (or with "" clears) a user's address.
	SetEmail(ctx context.Context, q Querier, user, address string) error
	// Email is a user's address; "" when none.
	Email(ctx context.Context, q Querier, user string) (string, error)
}

type outboxTable struct{}

var _ Outbox = outboxTable{}

func (outboxTable) Add(ctx context.Context, q Querier, it OutboxItem) (int64, error) {
	var dedupe any
	if it.Dedupe != "" {
		dedupe = it.Dedupe
	}
	res, err := q.ExecContext(ctx, `INSERT INTO outbox (owner, kind, dedupe, channel, target, text, created_at, next_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		it.Owner, it.Kind, dedupe, it.Channel, it.Target, it.Text, it.Created.UnixNano(), it.Created.UnixNano())
	if err != nil {
		return 0, mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return 0, err
	}
	return res.LastInsertId()
}

func (outboxTable) Due(ctx context.Context, q Querier, now time.Time, n int) ([]OutboxItem, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, owner, kind, coalesce(dedupe, ''), channel, target, text, created_at, attempts, next_at
		FROM outbox WHERE sent_at IS NULL AND next_at <= ? ORDER BY next_at, id LIMIT ?`, now.UnixNano(), n)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var created, next int64
		if err := rows.Scan(&it.ID, &it.Owner, &it.Kind, &it.Dedupe, &it.Channel, &it.Target, &it.Text, &created, &it.Attempts, &next); err != nil {
			return nil, mapErr(err)
		}
		it.Created, it.Next = time.Unix(0, created), time.Unix(0, next)
		out = append(out, it)
	}
	return out, mapErr(rows.Err())
}

func (outboxTable) Sent(ctx context.Context, q Querier, id int64, at time.Time) error {
	return affected(q.ExecContext(ctx, `UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ?`, at.UnixNano(), id))
}

func (outboxTable) Failed(ctx context.Context, q Querier, id int64, msg string, next time.Time) error {
	return affected(q.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_at = ? WHERE id = ?`, msg, next.UnixNano(), id))
}

func (outboxTable) Prune(ctx context.Context, q Querier, before time.Time) error {
	_, err := q.ExecContext(ctx, `DELETE FROM outbox WHERE (sent_at IS NOT NULL AND sent_at < ?) OR created_at < ?`,
		before.UnixNano(), before.Add(-7*24*time.Hour).UnixNano())
	return mapErr(err)
}

func (outboxTable) SetEmail(ctx context.Context, q Querier, user, address string) error {
	var id int64
	if err := q.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, user).Scan(&id); err != nil {
		return mapErr(err)
	}
	if address == "" {
		_, err := q.ExecContext(ctx, `DELETE FROM user_emails WHERE user_id = ?`, id)
		return mapErr(err)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO user_emails (user_id, address) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET address = excluded.address`, id, address)
	return mapErr(err)
}

func (outboxTable) Email(ctx context.Context, q Querier, user string) (string, error) {
	var addr string
	err := q.QueryRowContext(ctx, `SELECT e.address FROM user_emails e JOIN users u ON u.id = e.user_id WHERE u.name = ?`, user).Scan(&addr)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return addr, mapErr(err)
}
