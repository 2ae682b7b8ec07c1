package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// InviteAccount is the login name that redeems invite codes
// (ssh invite@gw CODE < key.pub); no user may take it.
const InviteAccount = "invite"

// Invite lifetimes: the default, and the longest an admin may give.
const (
	DefaultInviteTTL = 24 * time.Hour
	MaxInviteTTL     = 30 * 24 * time.Hour
)

// Errors of invites, matched with errors.Is.
var (
	// ErrInvite is every code that does not redeem: wrong, spent, expired,
	// or its user gone or disabled. Callers give one answer for all.
	ErrInvite   = errors.New("invite code not valid")
	ErrReserved = errors.New("reserved name")
)

// codeBytes is a code's randomness: 160 bits, 32 base32 characters.
const codeBytes = 20

// Invitation is a fresh invite: the code is shown once and kept only hashed.
type Invitation struct {
	User    User      `json:"user"`
	Created bool      `json:"created"` // the user was made by this invite
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
}

// CheckNewName says whether a new user may take name: a valid name that
// is not reserved.
func CheckNewName(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if name == InviteAccount {
		return fmt.Errorf("%w %q: it is the login that redeems invite codes; pick another name", ErrReserved, name)
	}
	return nil
}

// Invite makes a one-time code that registers a key for name, valid for
// ttl. A name that is no user yet becomes a key-only user (no password);
// the user's earlier unspent codes stop working.
func (s *Store) Invite(ctx context.Context, name string, ttl time.Duration) (Invitation, error) {
	if ttl <= 0 || ttl > MaxInviteTTL {
		return Invitation{}, fmt.Errorf("invite expiry %s: give a duration up to 30d, such as 24h or 7d", ttl)
	}
	code, hash, err := newInviteCode()
	if err != nil {
		return Invitation{}, fmt.Errorf("invite %s: %w", name, err)
	}
	now := s.now()
	inv := Invitation{Code: code, Expires: now.Add(ttl).UTC().Truncate(time.Second)}
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		inv.Created = false
		uid, err := s.st.Users.ID(ctx, q, name)
		if errors.Is(err, store.ErrNotFound) {
			if err := CheckNewName(name); err != nil {
				return err
			}
			inv.Created = true
			uid, err = s.st.Users.Insert(ctx, q, name, string(RoleUser), "", now)
		}
		if err != nil {
			return userErr(err, "invite", name)
		}
		return s.st.Invites.Replace(ctx, q, uid, hash, now, now.Add(ttl))
	})
	if err != nil {
		return Invitation{}, err
	}
	if inv.User, err = s.Get(ctx, name); err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

// Redeem registers the one public key in authorizedKey for the user the
// code names and spends the code, both or neither. A code that does not
// redeem is ErrInvite whatever the reason; a bad key is ErrBadKey, and
// leaves the code unspent.
func (s *Store) Redeem(ctx context.Context, code string, authorizedKey []byte) (User, Key, error) {
	keys, comments, err := ParseAuthorizedKeys(authorizedKey)
	if err != nil {
		return User{}, Key{}, err
	}
	if len(keys) != 1 {
		return User{}, Key{}, fmt.Errorf("%w: %d keys given; send one public key", ErrBadKey, len(keys))
	}
	hash, ok := inviteHash(code)
	if !ok {
		return User{}, Key{}, ErrInvite
	}
	var u User
	var added []Key
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		name, err := s.st.Invites.Spend(ctx, q, hash, s.now())
		if errors.Is(err, store.ErrNotFound) {
			return ErrInvite
		}
		if err != nil {
			return fmt.Errorf("redeem invite: %w", err)
		}
		row, err := s.st.Users.Get(ctx, q, name)
		if err != nil {
			return userErr(err, "redeem invite of", name)
		}
		if row.Disabled {
			return ErrInvite
		}
		u = fromRow(row)
		added, err = s.addKeys(ctx, q, row.ID, name, keys, comments)
		return err
	})
	if err != nil {
		return User{}, Key{}, err
	}
	u.Keys++
	return u, added[0], nil
}

// newInviteCode returns a random code, in groups of four for pasting, and
// its hash.
func newInviteCode() (string, []byte, error) {
	b := make([]byte, codeBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("random code: %w", err)
	}
	raw := base32.StdEncoding.EncodeToString(b)
	var groups []string
	for i := 0; i < len(raw); i += 4 {
		groups = append(groups, raw[i:i+4])
	}
	hash, _ := inviteHash(raw)
	return strings.Join(groups, "-"), hash, nil
}

// inviteHash normalises a code as typed (any case, dashes and spaces
// anywhere, 0 and 1 for O and I) and hashes it; ok is false when it
// cannot be a code at all.
func inviteHash(code string) ([]byte, bool) {
	if len(code) > 128 {
		return nil, false
	}
	norm := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r':
			return -1
		case r == '0':
			return 'O'
		case r == '1':
			return 'I'
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, code)
	b, err := base32.StdEncoding.DecodeString(norm)
	if err != nil || len(b) != codeBytes {
		return nil, false
	}
	sum := sha256.Sum256([]byte(norm))
	return sum[:], true
}
