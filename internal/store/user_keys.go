package store

import (
	"context"
	"time"
)

// Key is a row of user_keys: a user's public key.
type Key struct {
	UserID      UserID
	Fingerprint string // SHA256:... as ssh-keygen -l prints it
	Type        string
	PublicKey   string // authorized_keys line without comment
	Comment     string
	Created     time.Time
}

// UserKeys is the user_keys table. A key belongs to one user only.
type UserKeys interface {
	// Insert adds a key; ErrUnique when any user holds it already.
	Insert(ctx context.Context, q Querier, k Key) error
	// Holder returns the name of the user holding a key; ErrNotFound when
	// nobody does.
	Holder(ctx context.Context, q Querier, fingerprint string) (string, error)
	// List returns a user's keys, oldest first.
	List(ctx context.Context, q Querier, user string) ([]Key, error)
	// Delete removes one of a user's keys; ErrNotFound when the user has
	// no such key.
	Delete(ctx context.Context, q Querier, user, fingerprint string) error
}

type userKeyTable struct{}

var _ UserKeys = (*userKeyTable)(nil)

func (userKeyTable) Insert(ctx context.Context, q Querier, k Key) error {
	_, err := q.ExecContext(ctx, `INSERT INTO user_keys (user_id, fingerprint, type, public_key, comment, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, k.UserID, k.Fingerprint, k.Type, k.PublicKey, k.Comment, k.Created.Unix())
	return mapErr(err)
}

func (userKeyTable) Holder(ctx context.Context, q Querier, fingerprint string) (string, error) {
	var name string
	err := q.QueryRowContext(ctx, `SELECT u.name FROM user_keys k JOIN users u ON u.id = k.user_id
		WHERE k.fingerprint = ?`, fingerprint).Scan(&name)
	return name, mapErr(err)
}

func (userKeyTable) List(ctx context.Context, q Querier, user string) ([]Key, error) {
	rows, err := q.QueryContext(ctx, `SELECT k.user_id, k.fingerprint, k.type, k.public_key, k.comment, k.created_at
		FROM user_keys k JOIN users u ON u.id = k.user_id WHERE u.name = ? ORDER BY k.id`, user)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []Key{}
	for rows.Next() {
		var k Key
		var at int64
		if err := rows.Scan(&k.UserID, &k.Fingerprint, &k.Type, &k.PublicKey, &k.Comment, &at); err != nil {
			return nil, mapErr(err)
		}
		k.Created = time.Unix(at, 0).UTC()
		out = append(out, k)
	}
	return out, mapErr(rows.Err())
}

func (userKeyTable) Delete(ctx context.Context, q Querier, user, fingerprint string) error {
	return affected(q.ExecContext(ctx, `DELETE FROM user_keys WHERE fingerprint = ?
		AND user_id = (SELECT id FROM users WHERE name = ?)`, fingerprint, user))
}
