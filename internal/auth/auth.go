// Package auth decides whether a password or key may log in, applying the
// brute-force throttle in front of the user store. Both the SSH server and
// the shell's login and passwd commands go through it, so that no path
// checks a password without the throttle.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// ErrLocked means too many recent failures for the account or the address.
// Clients are told the same as for a wrong password.
var ErrLocked = errors.New("too many failed attempts; locked out for a while")

// LockedError is ErrLocked saying what is locked, for the log and for
// rate-limiting the audit records of a locked-out sprayer.
type LockedError struct {
	Key   string // "account NAME" or "address ADDR" (bounded, escaped)
	Until time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v (%s until %s)", ErrLocked, e.Key, e.Until.UTC().Format(time.TimeOnly))
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// errImplausible refuses a name that cannot be a user's (too long, not
// UTF-8, control characters) without asking the store: to the client it is
// a failed login like any other.
var errImplausible = fmt.Errorf("%w: implausible user name", users.ErrAuth)

// Store is the subset of the user store authentication needs.
type Store interface {
	Authenticate(ctx context.Context, name, password string) (users.User, error)
	UserByKey(ctx context.Context, key gossh.PublicKey) (users.User, error)
	ChangePassword(ctx context.Context, name, old, password string) error
	Get(ctx context.Context, name string) (users.User, error)
}

// Authenticator checks credentials.
type Authenticator struct {
	store    Store
	throttle *throttle.Throttle
}

// New returns an Authenticator.
func New(store Store, t *throttle.Throttle) *Authenticator {
	return &Authenticator{store: store, throttle: t}
}

// Host returns the address part of a remote address.
func Host(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// AddrGroup returns the source a remote address counts under, for the
// throttle and the server's per-address limits: an IPv4 address itself
// (IPv4-mapped IPv6 included), an IPv6 address's /64, since one host
// commonly holds a whole /64 and could otherwise rotate through it.
// Anything unparsable is returned as its host part.
func AddrGroup(remote string) string {
	ip, err := netip.ParseAddr(Host(remote))
	if err != nil {
		return Host(remote)
	}
	return GroupIP(ip)
}

// GroupIP is AddrGroup for a parsed address.
func GroupIP(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// Password checks name and password from remote. The error says why for the
// log (ErrLocked, users.ErrDisabled, users.ErrAuth); the client must be told
// only that it failed.
func (a *Authenticator) Password(ctx context.Context, name, password, remote string) (users.User, error) {
	if l, locked := a.throttle.Locked(name, AddrGroup(remote)); locked {
		return users.User{}, &LockedError{Key: l.Key, Until: l.Until}
	}
	if !audit.PlausibleName(name) {
		// Counted like a wrong password (the throttle keys it by its safe
		// form), so a flood of junk names still locks the address.
		a.throttle.Failure(name, AddrGroup(remote))
		return users.User{}, errImplausible
	}
	u, err := a.store.Authenticate(ctx, name, password)
	if err != nil {
		if errors.Is(err, users.ErrAuth) || errors.Is(err, users.ErrDisabled) {
			a.throttle.Failure(name, AddrGroup(remote))
		}
		return users.User{}, err
	}
	a.throttle.Success(name)
	return u, nil
}

// Key checks that key belongs to the enabled user name. Keys cannot be
// guessed, so a refused key does not count towards the lockout, and a
// locked account can still log in with its key: an attacker spraying
// passwords cannot lock the owner out.
func (a *Authenticator) Key(ctx context.Context, name string, key gossh.PublicKey) (users.User, error) {
	if !audit.PlausibleName(name) {
		return users.User{}, errImplausible
	}
	u, err := a.store.UserByKey(ctx, key)
	if err != nil {
		return users.User{}, err
	}
	if u.Name != name {
		return users.User{}, fmt.Errorf("%w: key belongs to another user", users.ErrAuth)
	}
	return u, nil
}

// ChangePassword checks the old password under the throttle and sets the new.
func (a *Authenticator) ChangePassword(ctx context.Context, name, old, password, remote string) error {
	if l, locked := a.throttle.Locked(name, AddrGroup(remote)); locked {
		return &LockedError{Key: l.Key, Until: l.Until}
	}
	if err := users.CheckPasswordPolicy(password); err != nil {
		return err
	}
	err := a.store.ChangePassword(ctx, name, old, password)
	if errors.Is(err, users.ErrAuth) {
		a.throttle.Failure(name, AddrGroup(remote))
	}
	return err
}

// User returns the current record of a user, to re-read role and disabled
// state at session start and before each command rather than trusting what
// was true at login.
func (a *Authenticator) User(ctx context.Context, name string) (users.User, error) {
	if !audit.PlausibleName(name) {
		return users.User{}, fmt.Errorf("%w: %s", users.ErrNotFound, audit.SafeName(name))
	}
	return a.store.Get(ctx, name)
}
