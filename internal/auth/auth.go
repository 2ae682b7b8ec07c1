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
	"time"

	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// ErrLocked means too many recent failures for the account or the address.
// Clients are told the same as for a wrong password.
var ErrLocked = errors.New("too many failed attempts; locked out for a while")

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

// Host returns the address part of a remote address, the throttle's key.
func Host(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// Password checks name and password from remote. The error says why for the
// log (ErrLocked, users.ErrDisabled, users.ErrAuth); the client must be told
// only that it failed.
func (a *Authenticator) Password(ctx context.Context, name, password, remote string) (users.User, error) {
	if ok, until := a.throttle.Allowed(name, Host(remote)); !ok {
		return users.User{}, fmt.Errorf("%w (until %s)", ErrLocked, until.UTC().Format(time.TimeOnly))
	}
	u, err := a.store.Authenticate(ctx, name, password)
	if err != nil {
		if errors.Is(err, users.ErrAuth) || errors.Is(err, users.ErrDisabled) {
			a.throttle.Failure(name, Host(remote))
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
	if ok, _ := a.throttle.Allowed(name, Host(remote)); !ok {
		return ErrLocked
	}
	if err := users.CheckPasswordPolicy(password); err != nil {
		return err
	}
	err := a.store.ChangePassword(ctx, name, old, password)
	if errors.Is(err, users.ErrAuth) {
		a.throttle.Failure(name, Host(remote))
	}
	return err
}

// User returns the current record of a user, to re-read role and disabled
// state at session start rather than trusting what was true at login.
func (a *Authenticator) User(ctx context.Context, name string) (users.User, error) {
	return a.store.Get(ctx, name)
}
