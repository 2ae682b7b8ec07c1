// Package users stores lab users, their passwords and public keys in SQLite,
// and answers the two questions authentication asks: does this password, or
// this key, belong to an enabled user?
package users

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Role is a user's role: RoleUser or RoleAdmin.
type Role string

// Roles.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// Errors callers match with errors.Is.
var (
	ErrNotFound       = errors.New("no such user")
	ErrExists         = errors.New("user already exists")
	ErrBadName        = errors.New("invalid user name")
	ErrAuth           = errors.New("authentication failed")
	ErrDisabled       = errors.New("user is disabled")
	ErrKeyExists      = errors.New("key already registered")
	ErrKeyNotFound    = errors.New("no such key")
	ErrBadKey         = errors.New("invalid public key")
	ErrLastAdmin      = errors.New("cannot remove the last enabled admin")
	ErrOwnsContainers = errors.New("user owns containers")
)

// User is a lab member known to the gateway.
type User struct {
	ID          int64     `json:"-"`
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Disabled    bool      `json:"disabled"`
	HasPassword bool      `json:"has_password"`
	Keys        int       `json:"keys"`
	Created     time.Time `json:"created"`
}

// IsAdmin reports whether u has the admin role.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// Key is a registered public key.
type Key struct {
	Fingerprint string    `json:"fingerprint"`
	Type        string    `json:"type"`
	Comment     string    `json:"comment"`
	Added       time.Time `json:"added"`
}

// Unix user-name rules (useradd's default NAME_REGEX, 32 characters).
var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// ValidName reports whether name may name a user, and why not.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: use 1-32 lowercase letters, digits, '_' or '-', starting with a letter or '_'", ErrBadName, name)
	}
	return nil
}

// Store is the SQLite-backed user store.
type Store struct {
	db  *sql.DB
	now func() time.Time
	log *slog.Logger
}

// New returns a Store on a migrated database.
func New(db *sql.DB) *Store { return &Store{db: db, now: time.Now, log: slog.Default()} }

// SetLogger sets where the store logs what users must not be told (who
// holds a key someone else tried to register).
func (s *Store) SetLogger(l *slog.Logger) { s.log = l.With("component", "users") }

const userCols = `u.id, u.name, u.role, u.password_hash != '', u.disabled, u.created_at,
	(SELECT count(*) FROM user_keys k WHERE k.user_id = u.id)`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Name, &u.Role, &u.HasPassword, &u.Disabled, &created, &u.Keys)
	u.Created = time.Unix(created, 0).UTC()
	return u, err
}

// Add creates a user. An empty password leaves the user key-only.
func (s *Store) Add(ctx context.Context, name string, role Role, password string) (User, error) {
	if err := ValidName(name); err != nil {
		return User{}, err
	}
	if role != RoleUser && role != RoleAdmin {
		return User{}, fmt.Errorf("add user %s: unknown role %q", name, role)
	}
	hash := ""
	if password != "" {
		if err := CheckPasswordPolicy(password); err != nil {
			return User{}, err
		}
		var err error
		if hash, err = HashPassword(password); err != nil {
			return User{}, fmt.Errorf("add user %s: %w", name, err)
		}
	}
	now := s.now().Unix()
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		name, role, hash, now, now)
	if err != nil {
		if isUnique(err) {
			return User{}, fmt.Errorf("%w: %s", ErrExists, name)
		}
		return User{}, fmt.Errorf("add user %s: %w", name, err)
	}
	return s.Get(ctx, name)
}

// Get returns the named user.
func (s *Store) Get(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", name, err)
	}
	return u, nil
}

// List returns every user, ordered by name.
func (s *Store) List(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users u ORDER BY u.name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Delete removes a user and their keys. The last enabled admin stays.
func (s *Store) Delete(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := guardLastAdmin(ctx, tx, name); err != nil {
			return err
		}
		var owned int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM containers c JOIN users u ON u.id = c.user_id WHERE u.name = ?`, name).Scan(&owned); err != nil {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		if owned > 0 {
			return fmt.Errorf("%w: %s still owns %d container(s); delete them first", ErrOwnsContainers, name, owned)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("delete user %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return nil
	})
}

// SetDisabled disables or enables a user. The last enabled admin cannot be
// disabled, so that the gateway always has someone to run it.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if disabled {
			if err := guardLastAdmin(ctx, tx, name); err != nil {
				return err
			}
		}
		return s.update(ctx, tx, name, `disabled = ?`, disabled)
	})
}

// SetPassword replaces a user's password.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if err := CheckPasswordPolicy(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.update(ctx, tx, name, `password_hash = ?`, hash) })
}

// ChangePassword sets a new password after checking the old one. A user
// without a password (key-only) sets one without an old password.
func (s *Store) ChangePassword(ctx context.Context, name, old, password string) error {
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE name = ?`, name).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("change password of %s: %w", name, err)
	}
	if hash != "" {
		ok, err := VerifyPasswordContext(ctx, hash, old)
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("change password of %s: %w", name, err)
		}
		if !ok {
			return ErrAuth
		}
	}
	return s.SetPassword(ctx, name, password)
}

func (s *Store) update(ctx context.Context, tx *sql.Tx, name, set string, arg any) error {
	res, err := tx.ExecContext(ctx, `UPDATE users SET `+set+`, updated_at = ? WHERE name = ?`, arg, s.now().Unix(), name)
	if err != nil {
		return fmt.Errorf("update user %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return nil
}

func guardLastAdmin(ctx context.Context, tx *sql.Tx, name string) error {
	var role string
	var disabled bool
	err := tx.QueryRowContext(ctx, `SELECT role, disabled FROM users WHERE name = ?`, name).Scan(&role, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return err
	}
	if Role(role) != RoleAdmin || disabled {
		return nil
	}
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND name != ?`, name).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return fmt.Errorf("%w (%s); add another admin first", ErrLastAdmin, name)
	}
	return nil
}

// HasAdmin reports whether any admin exists, enabled or not.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'admin'`).Scan(&n)
	return n > 0, err
}

// Authenticate checks a password. Every failure is ErrAuth (or ErrDisabled
// for a right password on a disabled account, for the log only), and takes
// the same time whether or not the user exists.
func (s *Store) Authenticate(ctx context.Context, name, password string) (User, error) {
	var hash string
	u, err := scanUserHash(s.db.QueryRowContext(ctx, `SELECT `+userCols+`, u.password_hash FROM users u WHERE u.name = ?`, name), &hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("authenticate %s: %w", name, err)
	}
	if hash == "" {
		hash = dummyHash
		u = User{}
	}
	ok, err := VerifyPasswordContext(ctx, hash, password)
	if err != nil && ctx.Err() != nil {
		// Gave up waiting for a hash slot (the client left): no verdict,
		// so nothing for the throttle to count.
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	if !ok || u.Name == "" {
		return User{}, ErrAuth
	}
	if u.Disabled {
		return User{}, ErrDisabled
	}
	return u, nil
}

func scanUserHash(row *sql.Row, hash *string) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Name, &u.Role, &u.HasPassword, &u.Disabled, &created, &u.Keys, hash)
	u.Created = time.Unix(created, 0).UTC()
	return u, err
}

// UserByKey returns the enabled user a public key belongs to.
func (s *Store) UserByKey(ctx context.Context, key gossh.PublicKey) (User, error) {
	fp := gossh.FingerprintSHA256(key)
	var stored string
	u, err := scanUserHash(s.db.QueryRowContext(ctx, `SELECT `+userCols+`, k.public_key FROM users u
		JOIN user_keys k ON k.user_id = u.id WHERE k.fingerprint = ?`, fp), &stored)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrAuth
	}
	if err != nil {
		return User{}, fmt.Errorf("look up key %s: %w", fp, err)
	}
	// The fingerprint indexes; the full key decides.
	if stored != strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key))) {
		return User{}, ErrAuth
	}
	if u.Disabled {
		return User{}, ErrDisabled
	}
	return u, nil
}

// ParseAuthorizedKeys parses authorized_keys text: one key a line, blank
// lines and # comments skipped. Options such as command= are refused: they
// mean nothing to the gateway and would suggest a restriction it does not apply.
func ParseAuthorizedKeys(data []byte) ([]gossh.PublicKey, []string, error) {
	var keys []gossh.PublicKey
	var comments []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, comment, options, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, nil, fmt.Errorf("%w on line %d: expected 'TYPE BASE64 [COMMENT]' as in a .pub file", ErrBadKey, n)
		}
		if len(options) > 0 {
			return nil, nil, fmt.Errorf("%w on line %d: options (%s) are not supported; paste the key alone", ErrBadKey, n, strings.Join(options, ","))
		}
		keys = append(keys, key)
		comments = append(comments, comment)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("%w: no key found in the input", ErrBadKey)
	}
	return keys, comments, nil
}

// AddKeys registers every key in authorized_keys text for a user, all or none.
func (s *Store) AddKeys(ctx context.Context, name string, authorizedKeys []byte) ([]Key, error) {
	keys, comments, err := ParseAuthorizedKeys(authorizedKeys)
	if err != nil {
		return nil, err
	}
	var added []Key
	err = s.tx(ctx, func(tx *sql.Tx) error {
		added, err = s.addKeys(ctx, tx, name, keys, comments)
		return err
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// AddWithKeys creates a key-only user and their keys in one transaction,
// so that a failure leaves no account that nobody can log in to.
func (s *Store) AddWithKeys(ctx context.Context, name string, role Role, authorizedKeys []byte) (User, error) {
	if err := ValidName(name); err != nil {
		return User{}, err
	}
	keys, comments, err := ParseAuthorizedKeys(authorizedKeys)
	if err != nil {
		return User{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now().Unix()
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, created_at, updated_at) VALUES (?, ?, ?, ?)`,
			name, role, now, now); err != nil {
			if isUnique(err) {
				return fmt.Errorf("%w: %s", ErrExists, name)
			}
			return err
		}
		_, err := s.addKeys(ctx, tx, name, keys, comments)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return s.Get(ctx, name)
}

func (s *Store) addKeys(ctx context.Context, tx *sql.Tx, name string, keys []gossh.PublicKey, comments []string) ([]Key, error) {
	var uid int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&uid); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return nil, err
	}
	now := s.now()
	var added []Key
	for i, k := range keys {
		fp := gossh.FingerprintSHA256(k)
		line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
		_, err := tx.ExecContext(ctx, `INSERT INTO user_keys (user_id, fingerprint, type, public_key, comment, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			uid, fp, k.Type(), line, comments[i], now.Unix())
		if isUnique(err) {
			// The holder goes to the log for the admins, never into the
			// answer: a user must not learn whose key they hold.
			var holder string
			tx.QueryRowContext(ctx, `SELECT u.name FROM user_keys k JOIN users u ON u.id = k.user_id WHERE k.fingerprint = ?`, fp).Scan(&holder)
			s.log.Warn("key registration refused: key already registered", "user", name, "fingerprint", fp, "holder", holder)
			return nil, &KeyConflictError{Fingerprint: fp, Holder: holder}
		}
		if err != nil {
			return nil, fmt.Errorf("add key %s: %w", fp, err)
		}
		added = append(added, Key{Fingerprint: fp, Type: k.Type(), Comment: comments[i], Added: now.UTC().Truncate(time.Second)})
	}
	return added, nil
}

// KeyConflictError refuses a key that is already registered. Its message
// is the same whoever holds the key (the caller included) and names no one;
// Holder is for the log and the host's admin tools. errors.Is matches
// ErrKeyExists.
type KeyConflictError struct {
	Fingerprint string
	Holder      string
}

func (e *KeyConflictError) Error() string {
	return "key " + e.Fingerprint + " is already registered and cannot be added; ask a lab admin"
}

func (e *KeyConflictError) Unwrap() error { return ErrKeyExists }

// Keys lists a user's keys, oldest first.
func (s *Store) Keys(ctx context.Context, name string) ([]Key, error) {
	if _, err := s.Get(ctx, name); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT k.fingerprint, k.type, k.comment, k.created_at FROM user_keys k
		JOIN users u ON u.id = k.user_id WHERE u.name = ? ORDER BY k.id`, name)
	if err != nil {
		return nil, fmt.Errorf("list keys of %s: %w", name, err)
	}
	defer rows.Close()
	out := []Key{}
	for rows.Next() {
		var k Key
		var at int64
		if err := rows.Scan(&k.Fingerprint, &k.Type, &k.Comment, &at); err != nil {
			return nil, err
		}
		k.Added = time.Unix(at, 0).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// AuthorizedKeys returns a user's keys as authorized_keys lines.
func (s *Store) AuthorizedKeys(ctx context.Context, name string) ([]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT k.public_key, k.comment FROM user_keys k
		JOIN users u ON u.id = k.user_id WHERE u.name = ? ORDER BY k.id`, name)
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", name, err)
	}
	defer rows.Close()
	var b bytes.Buffer
	for rows.Next() {
		var line, comment string
		if err := rows.Scan(&line, &comment); err != nil {
			return nil, err
		}
		b.WriteString(strings.TrimSpace(line + " " + comment))
		b.WriteByte('\n')
	}
	return b.Bytes(), rows.Err()
}

// DeleteKey removes one of a user's keys by fingerprint.
func (s *Store) DeleteKey(ctx context.Context, name, fingerprint string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM user_keys WHERE fingerprint = ?
		AND user_id = (SELECT id FROM users WHERE name = ?)`, fingerprint, name)
	if err != nil {
		return fmt.Errorf("delete key %s: %w", fingerprint, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Get(ctx, name); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s has no key %s (see 'user key list %s')", ErrKeyNotFound, name, fingerprint, name)
	}
	return nil
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
