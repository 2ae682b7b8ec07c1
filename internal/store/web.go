package store

import (
	"context"
	"database/sql"
	"time"
)

// WebLinks is the web_links table: one-time sign-in links, by the hash of
// their secret.
type WebLinks interface {
	// Insert records a link for a user.
	Insert(ctx context.Context, q Querier, hash string, uid UserID, expires time.Time) error
	// Peek returns the name of the link's user while it is unexpired,
	// leaving it in place; ErrNotFound otherwise.
	Peek(ctx context.Context, q Querier, hash string, now time.Time) (string, error)
	// Take deletes the link and returns its user's name if it had not
	// expired; ErrNotFound otherwise. Run it in a transaction with the
	// session it becomes, so that a link is used once.
	Take(ctx context.Context, q Querier, hash string, now time.Time) (UserID, string, error)
}

// WebSessions is the web_sessions table: signed-in browsers.
type WebSessions interface {
	Insert(ctx context.Context, q Querier, hash string, uid UserID, created, expires time.Time) error
	// User returns the name of the session's user while it is unexpired;
	// ErrNotFound otherwise.
	User(ctx context.Context, q Querier, hash string, now time.Time) (string, error)
	// Delete ends one session; an unknown one is no error.
	Delete(ctx context.Context, q Querier, hash string) error
	// DeleteUser ends every session of a user and returns how many.
	DeleteUser(ctx context.Context, q Querier, uid UserID) (int64, error)
	// Prune deletes expired sessions and sign-in links.
	Prune(ctx context.Context, q Querier, now time.Time) error
}

// APIToken is a row of api_tokens (its hash left out).
type APIToken struct {
	ID       int64
	UserID   UserID
	Owner    string
	Name     string
	Created  time.Time
	Expires  time.Time // zero: never
	LastUsed time.Time // zero: not yet
}

// APITokens is the api_tokens table.
type APITokens interface {
	// Insert records a token by its hash and returns its id.
	Insert(ctx context.Context, q Querier, t APIToken, hash string) (int64, error)
	// ByHash returns the unexpired token with that hash; ErrNotFound
	// otherwise.
	ByHash(ctx context.Context, q Querier, hash string, now time.Time) (APIToken, error)
	// Touch records a use.
	Touch(ctx context.Context, q Querier, id int64, at time.Time) error
	// List returns a user's tokens, oldest first.
	List(ctx context.Context, q Querier, uid UserID) ([]APIToken, error)
	// Delete revokes one of a user's tokens; ErrNotFound when the user has
	// no token id.
	Delete(ctx context.Context, q Querier, uid UserID, id int64) error
	// DeleteUser revokes all a user's tokens and returns how many.
	DeleteUser(ctx context.Context, q Querier, uid UserID) (int64, error)
}

type webLinkTable struct{}
type webSessionTable struct{}
type apiTokenTable struct{}

var (
	_ WebLinks    = webLinkTable{}
	_ WebSessions = webSessionTable{}
	_ APITokens   = apiTokenTable{}
)

func (webLinkTable) Insert(ctx context.Context, q Querier, hash string, uid UserID, expires time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO web_links (hash, user_id, expires_at) VALUES (?, ?, ?)`, hash, uid, expires.Unix())
	return mapErr(err)
}

func (webLinkTable) Peek(ctx context.Context, q Querier, hash string, now time.Time) (string, error) {
	var name string
	err := q.QueryRowContext(ctx, `SELECT u.name FROM web_links l JOIN users u ON u.id = l.user_id
		WHERE l.hash = ? AND l.expires_at > ?`, hash, now.Unix()).Scan(&name)
	return name, mapErr(err)
}

func (webLinkTable) Take(ctx context.Context, q Querier, hash string, now time.Time) (UserID, string, error) {
	var (
		uid     UserID
		expires int64
		name    string
	)
	// One statement reads and deletes: two redeemers cannot both get it.
	err := q.QueryRowContext(ctx, `DELETE FROM web_links WHERE hash = ? RETURNING user_id, expires_at`, hash).Scan(&uid, &expires)
	if err != nil {
		return 0, "", mapErr(err)
	}
	if expires <= now.Unix() {
		return 0, "", ErrNotFound // expired: gone all the same
	}
	if err := q.QueryRowContext(ctx, `SELECT name FROM users WHERE id = ?`, uid).Scan(&name); err != nil {
		return 0, "", mapErr(err)
	}
	return uid, name, nil
}

func (webSessionTable) Insert(ctx context.Context, q Querier, hash string, uid UserID, created, expires time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO web_sessions (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		hash, uid, created.Unix(), expires.Unix())
	return mapErr(err)
}

func (webSessionTable) User(ctx context.Context, q Querier, hash string, now time.Time) (string, error) {
	var name string
	err := q.QueryRowContext(ctx, `SELECT u.name FROM web_sessions s JOIN users u ON u.id = s.user_id
		WHERE s.hash = ? AND s.expires_at > ?`, hash, now.Unix()).Scan(&name)
	return name, mapErr(err)
}

func (webSessionTable) Delete(ctx context.Context, q Querier, hash string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM web_sessions WHERE hash = ?`, hash)
	return mapErr(err)
}

func (webSessionTable) DeleteUser(ctx context.Context, q Querier, uid UserID) (int64, error) {
	return counted(q.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id = ?`, uid))
}

func (webSessionTable) Prune(ctx context.Context, q Querier, now time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at <= ?`, now.Unix()); err != nil {
		return mapErr(err)
	}
	_, err := q.ExecContext(ctx, `DELETE FROM web_links WHERE expires_at <= ?`, now.Unix())
	return mapErr(err)
}

// counted returns how many rows a delete touched.
func counted(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

const apiTokenCols = `t.id, t.user_id, u.name, t.name, t.created_at, t.expires_at, t.last_used`

func scanAPIToken(sc scanner) (APIToken, error) {
	var (
		t                      APIToken
		created, expires, last int64
	)
	if err := sc.Scan(&t.ID, &t.UserID, &t.Owner, &t.Name, &created, &expires, &last); err != nil {
		return APIToken{}, mapErr(err)
	}
	t.Created = time.Unix(created, 0).UTC()
	if expires > 0 {
		t.Expires = time.Unix(expires, 0).UTC()
	}
	if last > 0 {
		t.LastUsed = time.Unix(last, 0).UTC()
	}
	return t, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (apiTokenTable) Insert(ctx context.Context, q Querier, t APIToken, hash string) (int64, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO api_tokens (user_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		t.UserID, t.Name, hash, t.Created.Unix(), unixOrZero(t.Expires))
	if err != nil {
		return 0, mapErr(err)
	}
	id, err := res.LastInsertId()
	return id, mapErr(err)
}

func (apiTokenTable) ByHash(ctx context.Context, q Querier, hash string, now time.Time) (APIToken, error) {
	return scanAPIToken(q.QueryRowContext(ctx, `SELECT `+apiTokenCols+` FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.hash = ? AND (t.expires_at = 0 OR t.expires_at > ?)`, hash, now.Unix()))
}

func (apiTokenTable) Touch(ctx context.Context, q Querier, id int64, at time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ?`, at.Unix(), id)
	return mapErr(err)
}

func (apiTokenTable) List(ctx context.Context, q Querier, uid UserID) ([]APIToken, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+apiTokenCols+` FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.user_id = ? ORDER BY t.id`, uid)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, mapErr(rows.Err())
}

func (apiTokenTable) Delete(ctx context.Context, q Querier, uid UserID, id int64) error {
	return affected(q.ExecContext(ctx, `DELETE FROM api_tokens WHERE user_id = ? AND id = ?`, uid, id))
}

func (apiTokenTable) DeleteUser(ctx context.Context, q Querier, uid UserID) (int64, error) {
	return counted(q.ExecContext(ctx, `DELETE FROM api_tokens WHERE user_id = ?`, uid))
}
