// Package webauth keeps the web side's credentials: one-time sign-in links
// handed out over SSH, the browser sessions they become, and API tokens.
// Only SHA-256 hashes of the secrets are stored; a secret is shown once,
// to its owner, and never logged.
package webauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// Lifetimes of the secrets.
const (
	LinkTTL    = 5 * time.Minute
	SessionTTL = 12 * time.Hour
	// touchEvery bounds how often a token's last use is written: a
	// script's every call need not be a database write.
	touchEvery = time.Minute
)

// Prefixes make a leaked secret recognisable (secret scanners, logs).
const (
	TokenPrefix   = "lxg_"
	linkPrefix    = "lxgl_"
	sessionPrefix = "lxgs_"
)

// ErrInvalid is the one answer for a secret that is unknown, used,
// expired or revoked: which of them is nobody's business.
var ErrInvalid = errors.New("invalid or expired credentials")

// ErrNoToken: the user has no token of that id.
var ErrNoToken = errors.New("no such token")

// Token is an API token as its owner sees it ('token list --json').
type Token struct {
	ID       int64      `json:"id"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires"`   // null: never
	LastUsed *time.Time `json:"last_used"` // null: not yet
}

// Auth issues and checks the secrets. It is safe for concurrent use.
type Auth struct {
	db      *sql.DB
	st      *store.Store
	baseURL string
	now     func() time.Time
}

// New returns an Auth on db; baseURL is where the web listener is reached,
// for the sign-in links.
func New(db *sql.DB, baseURL string) *Auth {
	return &Auth{db: db, st: store.New(), baseURL: strings.TrimRight(baseURL, "/"), now: time.Now}
}

// SetClock replaces the clock (tests).
func (a *Auth) SetClock(now func() time.Time) { a.now = now }

// newSecret returns a random secret with prefix and its hash.
func newSecret(prefix string) (secret, hash string) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, Hash(secret)
}

// Hash is the stored form of a secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CSRF is the anti-forgery token of a session: bound to its cookie, which
// a cross-site page cannot read, and needing no storage of its own.
func CSRF(cookie string) string {
	sum := sha256.Sum256([]byte("lxcgate csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// plausible rejects what cannot be one of our secrets before any lookup.
func plausible(secret, prefix string) bool {
	return strings.HasPrefix(secret, prefix) && len(secret) == len(prefix)+43
}

func (a *Auth) userID(ctx context.Context, user string) (store.UserID, error) {
	id, err := a.st.Users.ID(ctx, a.db, user)
	if err != nil {
		return 0, fmt.Errorf("user %s: %w", user, err)
	}
	return id, nil
}

// SignIn makes a one-time sign-in link for user, valid for LinkTTL.
func (a *Auth) SignIn(ctx context.Context, user string) (link string, expires time.Time, err error) {
	uid, err := a.userID(ctx, user)
	if err != nil {
		return "", time.Time{}, err
	}
	secret, hash := newSecret(linkPrefix)
	expires = a.now().Add(LinkTTL)
	if err := a.st.WebLinks.Insert(ctx, a.db, hash, uid, expires); err != nil {
		return "", time.Time{}, fmt.Errorf("sign-in link: %w", err)
	}
	return a.baseURL + "/signin?t=" + secret, expires, nil
}

// LinkUser names the user of an unused, unexpired link without using it.
func (a *Auth) LinkUser(ctx context.Context, secret string) (string, error) {
	if !plausible(secret, linkPrefix) {
		return "", ErrInvalid
	}
	name, err := a.st.WebLinks.Peek(ctx, a.db, Hash(secret), a.now())
	return name, orInvalid(err)
}

// Redeem uses a link: in one transaction it is deleted and becomes a new
// session, whose cookie value it returns with the user's name.
func (a *Auth) Redeem(ctx context.Context, secret string) (cookie, user string, err error) {
	if !plausible(secret, linkPrefix) {
		return "", "", ErrInvalid
	}
	now := a.now()
	cookie, hash := newSecret(sessionPrefix)
	err = store.Tx(ctx, a.db, func(q store.Querier) error {
		uid, name, err := a.st.WebLinks.Take(ctx, q, Hash(secret), now)
		if err != nil {
			return err
		}
		user = name
		return a.st.WebSessions.Insert(ctx, q, hash, uid, now, now.Add(SessionTTL))
	})
	if err != nil {
		return "", "", orInvalid(err)
	}
	return cookie, user, nil
}

// SessionUser names the user of a live session.
func (a *Auth) SessionUser(ctx context.Context, cookie string) (string, error) {
	if !plausible(cookie, sessionPrefix) {
		return "", ErrInvalid
	}
	name, err := a.st.WebSessions.User(ctx, a.db, Hash(cookie), a.now())
	return name, orInvalid(err)
}

// EndSession signs one browser out.
func (a *Auth) EndSession(ctx context.Context, cookie string) error {
	return a.st.WebSessions.Delete(ctx, a.db, Hash(cookie))
}

// EndSessions signs every browser of user out and says how many.
func (a *Auth) EndSessions(ctx context.Context, user string) (int64, error) {
	uid, err := a.userID(ctx, user)
	if err != nil {
		return 0, err
	}
	return a.st.WebSessions.DeleteUser(ctx, a.db, uid)
}

// Prune deletes expired sessions and links.
func (a *Auth) Prune(ctx context.Context) error {
	return a.st.WebSessions.Prune(ctx, a.db, a.now())
}

// orInvalid folds "not found" into ErrInvalid and keeps other errors.
func orInvalid(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalid
	}
	return err
}

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateToken makes an API token for user, expiring after ttl (0: never),
// and returns it with its secret, which is not kept.
func (a *Auth) CreateToken(ctx context.Context, user, name string, ttl time.Duration) (Token, string, error) {
	if name != "" && !tokenNameRE.MatchString(name) {
		return Token{}, "", fmt.Errorf("token name %q: 1-64 letters, digits, '.', '_' and '-', starting with a letter or digit", name)
	}
	if ttl < 0 {
		return Token{}, "", errors.New("a token's lifetime must be positive")
	}
	uid, err := a.userID(ctx, user)
	if err != nil {
		return Token{}, "", err
	}
	now := a.now().Truncate(time.Second)
	row := store.APIToken{UserID: uid, Name: name, Created: now}
	if ttl > 0 {
		row.Expires = now.Add(ttl)
	}
	secret, hash := newSecret(TokenPrefix)
	id, err := a.st.APITokens.Insert(ctx, a.db, row, hash)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	row.ID = id
	return view(row), secret, nil
}

// TokenUser names the owner of a live token and records its use.
func (a *Auth) TokenUser(ctx context.Context, secret string) (string, error) {
	if !plausible(secret, TokenPrefix) {
		return "", ErrInvalid
	}
	now := a.now()
	t, err := a.st.APITokens.ByHash(ctx, a.db, Hash(secret), now)
	if err != nil {
		return "", orInvalid(err)
	}
	if now.Sub(t.LastUsed) >= touchEvery {
		// Best effort: a busy database must not refuse a good token.
		_ = a.st.APITokens.Touch(context.WithoutCancel(ctx), a.db, t.ID, now)
	}
	return t.Owner, nil
}

// Tokens lists user's tokens, oldest first.
func (a *Auth) Tokens(ctx context.Context, user string) ([]Token, error) {
	uid, err := a.userID(ctx, user)
	if err != nil {
		return nil, err
	}
	rows, err := a.st.APITokens.List(ctx, a.db, uid)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	out := make([]Token, len(rows))
	for i, r := range rows {
		out[i] = view(r)
	}
	return out, nil
}

// RevokeToken revokes one of user's tokens; ErrNoToken for an id that is
// not theirs.
func (a *Auth) RevokeToken(ctx context.Context, user string, id int64) error {
	uid, err := a.userID(ctx, user)
	if err != nil {
		return err
	}
	if err := a.st.APITokens.Delete(ctx, a.db, uid, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w %d", ErrNoToken, id)
		}
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	return nil
}

// RevokeTokens revokes all of user's tokens and says how many.
func (a *Auth) RevokeTokens(ctx context.Context, user string) (int64, error) {
	uid, err := a.userID(ctx, user)
	if err != nil {
		return 0, err
	}
	return a.st.APITokens.DeleteUser(ctx, a.db, uid)
}

func view(r store.APIToken) Token {
	t := Token{ID: r.ID, Name: r.Name, Created: r.Created.UTC()}
	if !r.Expires.IsZero() {
		e := r.Expires.UTC()
		t.Expires = &e
	}
	if !r.LastUsed.IsZero() {
		l := r.LastUsed.UTC()
		t.LastUsed = &l
	}
	return t
}
