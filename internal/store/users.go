package store

import (
	"context"
	"fmt"
	"time"
)

// User is a row of users, with how many keys it has.
type User struct {
	ID          UserID
	Name        string
	Role        string
	HasPassword bool
	Disabled    bool
	Keys        int
	Created     time.Time
}

// Users is the users table.
type Users interface {
	// Insert adds a user; ErrUnique when the name is taken.
	Insert(ctx context.Context, q Querier, name, role, passwordHash string, at time.Time) (UserID, error)
	// Get returns the named user; ErrNotFound when there is none.
	Get(ctx context.Context, q Querier, name string) (User, error)
	// GetWithHash is Get with the password hash ("" for key-only users).
	GetWithHash(ctx context.Context, q Querier, name string) (User, string, error)
	// GetByKey returns the user holding the key with fingerprint, and the
	// key as stored (an authorized_keys line without comment).
	GetByKey(ctx context.Context, q Querier, fingerprint string) (User, string, error)
	// ID returns the named user's id; ErrNotFound when there is none.
	ID(ctx context.Context, q Querier, name string) (UserID, error)
	// List returns every user, ordered by name.
	List(ctx context.Context, q Querier) ([]User, error)
	// Admins returns every admin, enabled or not.
	Admins(ctx context.Context, q Querier) ([]User, error)
	// Disabled returns every user's disabled flag by name.
	Disabled(ctx context.Context, q Querier) (map[string]bool, error)
	// SetDisabled and SetPasswordHash change one user; ErrNotFound when
	// there is none.
	SetDisabled(ctx context.Context, q Querier, name string, disabled bool, at time.Time) error
	SetPasswordHash(ctx context.Context, q Querier, name, hash string, at time.Time) error
	// SetRole changes one user's role; ErrNotFound when there is none.
	SetRole(ctx context.Context, q Querier, name, role string, at time.Time) error
	// Delete removes a user (and, by cascade, their keys and quota);
	// ErrNotFound when there is none, ErrForeignKey while they own
	// containers.
	Delete(ctx context.Context, q Querier, name string) error
}

type userTable struct{}

var _ Users = (*userTable)(nil)

const userCols = `u.id, u.name, u.role, u.password_hash != '', u.disabled, u.created_at,
	(SELECT count(*) FROM user_keys k WHERE k.user_id = u.id)`

func scanUser(sc scanner, extra ...any) (User, error) {
	var u User
	var created int64
	dest := append([]any{&u.ID, &u.Name, &u.Role, &u.HasPassword, &u.Disabled, &created, &u.Keys}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return User{}, mapErr(err)
	}
	u.Created = time.Unix(created, 0).UTC()
	return u, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func (userTable) Insert(ctx context.Context, q Querier, name, role, passwordHash string, at time.Time) (UserID, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)`, name, role, passwordHash, at.Unix(), at.Unix())
	if err != nil {
		return 0, mapErr(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("id of user %s: %w", name, mapErr(err))
	}
	return UserID(id), nil
}

func (userTable) Get(ctx context.Context, q Querier, name string) (User, error) {
	return scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.name = ?`, name))
}

func (userTable) GetWithHash(ctx context.Context, q Querier, name string) (User, string, error) {
	var hash string
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+`, u.password_hash FROM users u WHERE u.name = ?`, name), &hash)
	return u, hash, err
}

func (userTable) GetByKey(ctx context.Context, q Querier, fingerprint string) (User, string, error) {
	var key string
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+`, k.public_key FROM users u
		JOIN user_keys k ON k.user_id = u.id WHERE k.fingerprint = ?`, fingerprint), &key)
	return u, key, err
}

func (userTable) ID(ctx context.Context, q Querier, name string) (UserID, error) {
	var id UserID
	if err := q.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id); err != nil {
		return 0, mapErr(err)
	}
	return id, nil
}

func (userTable) List(ctx context.Context, q Querier) ([]User, error) {
	return listUsers(ctx, q, `SELECT `+userCols+` FROM users u ORDER BY u.name`)
}

func (userTable) Admins(ctx context.Context, q Querier) ([]User, error) {
	return listUsers(ctx, q, `SELECT `+userCols+` FROM users u WHERE u.role = 'admin' ORDER BY u.name`)
}

func listUsers(ctx context.Context, q Querier, query string) ([]User, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, mapErr(rows.Err())
}

func (userTable) Disabled(ctx context.Context, q Querier) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, disabled FROM users`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		var disabled bool
		if err := rows.Scan(&name, &disabled); err != nil {
			return nil, mapErr(err)
		}
		out[name] = disabled
	}
	return out, mapErr(rows.Err())
}

func (userTable) SetDisabled(ctx context.Context, q Querier, name string, disabled bool, at time.Time) error {
	return affected(q.ExecContext(ctx, `UPDATE users SET disabled = ?, updated_at = ? WHERE name = ?`, disabled, at.Unix(), name))
}

func (userTable) SetPasswordHash(ctx context.Context, q Querier, name, hash string, at time.Time) error {
	return affected(q.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?`, hash, at.Unix(), name))
}

func (userTable) SetRole(ctx context.Context, q Querier, name, role string, at time.Time) error {
	return affected(q.ExecContext(ctx, `UPDATE users SET role = ?, updated_at = ? WHERE name = ?`, role, at.Unix(), name))
}

func (userTable) Delete(ctx context.Context, q Querier, name string) error {
	return affected(q.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name))
}
