package users

import (
	"context"
	"database/sql"
	"fmt"
)

// Changes tells a poller cheaply whether the users may have changed
// behind its back (lxcgate user disable, from another process). It holds
// a database connection of its own: SQLite's data_version on it moves
// only when another connection commits, so an idle look is one tiny
// query.
type Changes struct {
	db   *sql.DB
	conn *sql.Conn
}

// Changes starts watching; Close ends it.
func (s *Store) Changes() *Changes { return &Changes{db: s.db} }

// Version returns a number that differs from the last one whenever
// something was committed since. After an error the connection is given
// up: the next Version comes from a new one and compares with none before
// it, so the caller should read again.
func (c *Changes) Version(ctx context.Context) (int64, error) {
	if c.conn == nil {
		conn, err := c.db.Conn(ctx)
		if err != nil {
			return 0, err
		}
		c.conn = conn
	}
	var v int64
	if err := c.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		c.Close()
		return 0, err
	}
	return v, nil
}

// Close gives the connection back.
func (c *Changes) Close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// Disabled returns every user's disabled flag by name; a name missing
// from it is a user deleted.
func (s *Store) Disabled(ctx context.Context) (map[string]bool, error) {
	states, err := s.st.Users.Disabled(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	return states, nil
}
