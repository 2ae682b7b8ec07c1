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

	"github.com/lxcgate/lxcgate/internal/store"
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
	hot *store.Prepared // the reads of every login, prepared once
	st  *store.Store
	now func() time.Time
	log *slog.Logger
}

// New returns a Store on a migrated database.
func New(db *sql.DB) *Store {
	return &Store{db: db, hot: store.NewPrepared(db), st: store.New(), now: time.Now, log: slog.Default()}
}

// SetLogger sets where the store logs what users must not be told (who
// holds a key someone else tried to register).
func (s *Store) SetLogger(l *slog.Logger) { s.log = l.With("component", "users") }

func fromRow(r store.User) User {
	return User{ID: int64(r.ID), Name: r.Name, Role: Role(r.Role), Disabled: r.Disabled, HasPassword: r.HasPassword,
		Keys: r.Keys, Created: r.Created}
}

// userErr says which user a store error was about: a missing one as
// ErrNotFound by name, any other failure with what was being done.
func userErr(err error, doing, name string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return fmt.Errorf("%s %s: %w", doing, name, err)
}

// Add creates a user. An empty password leaves the user key-only.
func (s *Store) Add(ctx context.Context, name string, role Role, password string) (User, error) {
	if err := CheckNewName(name); err != nil {
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
	if _, err := s.st.Users.Insert(ctx, s.db, name, string(role), hash, s.now()); err != nil {
		if errors.Is(err, store.ErrUnique) {
			return User{}, fmt.Errorf("%w: %s", ErrExists, name)
		}
		return User{}, fmt.Errorf("add user %s: %w", name, err)
	}
	return s.Get(ctx, name)
}

// Get returns the named user.
func (s *Store) Get(ctx context.Context, name string) (User, error) {
	u, err := s.st.Users.Get(ctx, s.hot, name)
	if err != nil {
		return User{}, userErr(err, "get user", name)
	}
	return fromRow(u), nil
}

// List returns every user, ordered by name.
func (s *Store) List(ctx context.Context) ([]User, error) {
	rows, err := s.st.Users.List(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var out []User
	for _, r := range rows {
		out = append(out, fromRow(r))
	}
	return out, nil
}

// Delete removes a user and their keys. The last enabled admin stays.
func (s *Store) Delete(ctx context.Context, name string) error {
	return store.Tx(ctx, s.db, func(q store.Querier) error {
		u, err := s.guardLastAdmin(ctx, q, name)
		if err != nil {
			return err
		}
		if err := s.ownsNothing(ctx, q, u.ID, name); err != nil {
			return err
		}
		err = s.st.Users.Delete(ctx, q, name)
		if errors.Is(err, store.ErrForeignKey) {
			return fmt.Errorf("%w: %s still owns containers; delete them first", ErrOwnsContainers, name)
		}
		if err != nil {
			return userErr(err, "delete user", name)
		}
		return nil
	})
}

// SetDisabled disables or enables a user. The last enabled admin cannot be
// disabled, so that the gateway always has someone to run it.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return store.Tx(ctx, s.db, func(q store.Querier) error {
		if disabled {
			if _, err := s.guardLastAdmin(ctx, q, name); err != nil {
				return err
			}
		}
		if err := s.st.Users.SetDisabled(ctx, q, name, disabled, s.now()); err != nil {
			return userErr(err, "update user", name)
		}
		return nil
	})
}

// SetRole gives a user a role. The last enabled admin cannot be demoted.
func (s *Store) SetRole(ctx context.Context, name string, role Role) error {
	if role != RoleAdmin && role != RoleUser {
		return fmt.Errorf("role must be %s or %s, not %q", RoleAdmin, RoleUser, role)
	}
	return store.Tx(ctx, s.db, func(q store.Querier) error {
		if role != RoleAdmin {
			if _, err := s.guardLastAdmin(ctx, q, name); err != nil {
				return err
			}
		}
		if err := s.st.Users.SetRole(ctx, q, name, string(role), s.now()); err != nil {
			return userErr(err, "update user", name)
		}
		return nil
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
	if err := s.st.Users.SetPasswordHash(ctx, s.db, name, hash, s.now()); err != nil {
		return userErr(err, "update user", name)
	}
	return nil
}

// ChangePassword sets a new password after checking the old one. A user
// without a password (key-only) sets one without an old password.
func (s *Store) ChangePassword(ctx context.Context, name, old, password string) error {
	_, hash, err := s.st.Users.GetWithHash(ctx, s.db, name)
	if err != nil {
		return userErr(err, "change password of", name)
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

// guardLastAdmin returns the named user unless removing or disabling them
// would leave no enabled admin.
func (s *Store) guardLastAdmin(ctx context.Context, q store.Querier, name string) (store.User, error) {
	u, err := s.st.Users.Get(ctx, q, name)
	if err != nil {
		return store.User{}, userErr(err, "check user", name)
	}
	if Role(u.Role) != RoleAdmin || u.Disabled {
		return u, nil
	}
	admins, err := s.st.Users.Admins(ctx, q)
	if err != nil {
		return store.User{}, fmt.Errorf("count admins: %w", err)
	}
	for _, a := range admins {
		if !a.Disabled && a.Name != name {
			return u, nil
		}
	}
	return store.User{}, fmt.Errorf("%w (%s); add another admin first", ErrLastAdmin, name)
}

// HasAdmin reports whether any admin exists, enabled or not.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	admins, err := s.st.Users.Admins(ctx, s.db)
	if err != nil {
		return false, fmt.Errorf("look for an admin: %w", err)
	}
	return len(admins) > 0, nil
}

// Authenticate checks a password. Every failure is ErrAuth (or ErrDisabled
// for a right password on a disabled account, for the log only), and takes
// the same time whether or not the user exists.
func (s *Store) Authenticate(ctx context.Context, name, password string) (User, error) {
	row, hash, err := s.st.Users.GetWithHash(ctx, s.db, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return User{}, fmt.Errorf("authenticate %s: %w", name, err)
	}
	u := fromRow(row)
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

// UserByKey returns the enabled user a public key belongs to.
func (s *Store) UserByKey(ctx context.Context, key gossh.PublicKey) (User, error) {
	fp := gossh.FingerprintSHA256(key)
	row, stored, err := s.st.Users.GetByKey(ctx, s.hot, fp)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, ErrAuth
	}
	if err != nil {
		return User{}, fmt.Errorf("look up key %s: %w", fp, err)
	}
	// The fingerprint indexes; the full key decides.
	if stored != strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key))) {
		return User{}, ErrAuth
	}
	u := fromRow(row)
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
		if strings.HasPrefix(line, "-----BEGIN") {
			return nil, nil, fmt.Errorf("%w on line %d: that is a private key; keep it secret and give the public key (the .pub file)", ErrBadKey, n)
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
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		uid, err := s.st.Users.ID(ctx, q, name)
		if err != nil {
			return userErr(err, "add keys of", name)
		}
		added, err = s.addKeys(ctx, q, uid, name, keys, comments)
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
	if err := CheckNewName(name); err != nil {
		return User{}, err
	}
	keys, comments, err := ParseAuthorizedKeys(authorizedKeys)
	if err != nil {
		return User{}, err
	}
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		uid, err := s.st.Users.Insert(ctx, q, name, string(role), "", s.now())
		if errors.Is(err, store.ErrUnique) {
			return fmt.Errorf("%w: %s", ErrExists, name)
		}
		if err != nil {
			return fmt.Errorf("add user %s: %w", name, err)
		}
		_, err = s.addKeys(ctx, q, uid, name, keys, comments)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return s.Get(ctx, name)
}

func (s *Store) addKeys(ctx context.Context, q store.Querier, uid store.UserID, name string, keys []gossh.PublicKey, comments []string) ([]Key, error) {
	now := s.now()
	var added []Key
	for i, k := range keys {
		fp := gossh.FingerprintSHA256(k)
		line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
		err := s.st.UserKeys.Insert(ctx, q, store.Key{UserID: uid, Fingerprint: fp, Type: k.Type(), PublicKey: line,
			Comment: comments[i], Created: now})
		if errors.Is(err, store.ErrUnique) {
			// The holder goes to the log for the admins, never into the
			// answer: a user must not learn whose key they hold.
			holder, herr := s.st.UserKeys.Holder(ctx, q, fp)
			if herr != nil {
				s.log.Error("key registration refused; its holder could not be read", "user", name, "fingerprint", fp, "err", herr)
			} else {
				s.log.Warn("key registration refused: key already registered", "user", name, "fingerprint", fp, "holder", holder)
			}
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
	rows, err := s.st.UserKeys.List(ctx, s.db, name)
	if err != nil {
		return nil, fmt.Errorf("list keys of %s: %w", name, err)
	}
	out := []Key{}
	for _, k := range rows {
		out = append(out, Key{Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment, Added: k.Created})
	}
	return out, nil
}

// AuthorizedKeys returns a user's keys as authorized_keys lines.
func (s *Store) AuthorizedKeys(ctx context.Context, name string) ([]byte, error) {
	rows, err := s.st.UserKeys.List(ctx, s.db, name)
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", name, err)
	}
	var b bytes.Buffer
	for _, k := range rows {
		b.WriteString(strings.TrimSpace(k.PublicKey + " " + k.Comment))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// DeleteKey removes one of a user's keys by fingerprint.
func (s *Store) DeleteKey(ctx context.Context, name, fingerprint string) error {
	err := s.st.UserKeys.Delete(ctx, s.db, name, fingerprint)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := s.Get(ctx, name); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s has no key %s", ErrKeyNotFound, name, fingerprint)
	}
	if err != nil {
		return fmt.Errorf("delete key %s: %w", fingerprint, err)
	}
	return nil
}
