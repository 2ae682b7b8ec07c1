package store

import (
	"context"
	"time"
)

// Invites is the invites table: one-time codes, by their hash, that
// register a first key for a user.
type Invites interface {
	// Replace drops the user's unspent invites and adds one.
	Replace(ctx context.Context, q Querier, user UserID, hash []byte, created, expires time.Time) error
	// Spend marks the invite with this hash spent at now and returns its
	// user's name; ErrNotFound when no unspent, unexpired invite has it.
	Spend(ctx context.Context, q Querier, hash []byte, now time.Time) (string, error)
}

type inviteTable struct{}

var _ Invites = (*inviteTable)(nil)

func (inviteTable) Replace(ctx context.Context, q Querier, user UserID, hash []byte, created, expires time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM invites WHERE user_id = ? AND spent_at IS NULL`, user); err != nil {
		return mapErr(err)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO invites (user_id, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		user, hash, created.Unix(), expires.Unix())
	return mapErr(err)
}

func (inviteTable) Spend(ctx context.Context, q Querier, hash []byte, now time.Time) (string, error) {
	var id UserID
	// One statement: of two redemptions racing, only one finds it unspent.
	err := q.QueryRowContext(ctx, `UPDATE invites SET spent_at = ?
		WHERE code_hash = ? AND spent_at IS NULL AND expires_at > ? RETURNING user_id`,
		now.Unix(), hash, now.Unix()).Scan(&id)
	if err != nil {
		return "", mapErr(err)
	}
	var name string
	err = q.QueryRowContext(ctx, `SELECT name FROM users WHERE id = ?`, id).Scan(&name)
	return name, mapErr(err)
}
