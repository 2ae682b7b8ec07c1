package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Redeemer registers the public key in authorizedKey for the user an
// invite code names, spending the code. users.Store satisfies it: a code
// that does not redeem is users.ErrInvite, a bad key users.ErrBadKey.
type Redeemer interface {
	Redeem(ctx context.Context, code string, authorizedKey []byte) (users.User, users.Key, error)
}

// AddressThrottle counts failures per source that name no account; the
// login throttle (throttle.Throttle) satisfies it, so wrong codes and
// wrong passwords share one budget per address.
type AddressThrottle interface {
	AddressLocked(address string) (time.Time, bool)
	AddressFailure(address string) bool
}

// InviteOptions turn on the invite login (ssh invite@gw CODE < key.pub).
// A nil Store leaves it off.
type InviteOptions struct {
	Store    Redeemer
	Throttle AddressThrottle
	Gateway  string // the public "host:port", for the next step printed
}

const (
	extInvite = "lxcgate-invite"
	// inviteInvalid is the one answer for a wrong, spent or expired code.
	inviteInvalid = "invite: that code is not valid; ask your lab admin for a new one"
	// maxInviteInput caps what is read of stdin: a key line is far shorter.
	maxInviteInput = 16 << 10
	// inviteReadTimeout bounds the wait for the key on stdin.
	inviteReadTimeout = 15 * time.Second
)

// allowInviteNone lets the invite account in by "none", for any client key
// or none, ahead of whatever "none" already allowed (the lobby).
func (s *Server) allowInviteNone(cfg *gossh.ServerConfig) {
	next := cfg.NoClientAuthCallback
	cfg.NoClientAuth = true
	cfg.NoClientAuthCallback = func(meta gossh.ConnMetadata) (*gossh.Permissions, error) {
		if meta.User() == users.InviteAccount {
			return &gossh.Permissions{Extensions: map[string]string{extUser: users.InviteAccount, extMethod: "none", extInvite: "1"}}, nil
		}
		if next != nil {
			return next(meta)
		}
		return nil, errors.New("no")
	}
}

// isInvite reports whether name is the invite login, when it is on.
func (s *Server) isInvite(name string) bool {
	return s.opt.Invite.Store != nil && name == users.InviteAccount
}

// inviteIdentity is the invite login's identity: like the lobby's, it owns
// nothing, so forwarding is refused.
func inviteIdentity(name string) Identity {
	return Identity{User: users.User{Name: name, Role: users.RoleUser}, Method: "none", Lobby: true, Invite: true}
}

// invite serves a session of the invite login: the code as the command,
// one public key line on stdin. Every attempt is audited, never the code.
func (s *Server) invite(sess ssh.Session) {
	out, detail, ok := s.redeem(sess)
	ev := audit.Event{Kind: audit.KindCommand, User: users.InviteAccount, Remote: sess.RemoteAddr().String(),
		Method: "invite", Detail: detail, OK: ok}
	if !ok {
		ev.Kind = audit.KindRefusal
	}
	s.opt.Audit.Record(sess.Context(), ev)
	if !ok {
		fmt.Fprintln(sess.Stderr(), out)
		sess.Exit(1)
		return
	}
	fmt.Fprint(sess, out)
	sess.Exit(0)
}

// redeem returns what to tell the client, what to audit, and whether the
// key was registered.
func (s *Server) redeem(sess ssh.Session) (string, string, bool) {
	usage := "invite: run " + s.inviteCommand()
	if _, _, pty := sess.Pty(); pty || sess.RawCommand() == "" {
		return usage + " (no -t, no shell)", "refused: no code or a terminal", false
	}
	addr := auth.AddrGroup(sess.RemoteAddr().String())
	if until, locked := s.opt.Invite.Throttle.AddressLocked(addr); locked {
		return inviteInvalid, "refused: address " + addr + " locked until " + until.UTC().Format(time.TimeOnly), false
	}
	data, err := readCapped(sess.Context(), sess, maxInviteInput, inviteReadTimeout)
	if err != nil {
		return "invite: " + err.Error() + "; " + usage, "refused: " + err.Error(), false
	}
	ctx, cancel := context.WithTimeout(sess.Context(), 10*time.Second)
	defer cancel()
	u, key, err := s.opt.Invite.Store.Redeem(ctx, sess.RawCommand(), data)
	var conflict *users.KeyConflictError
	switch {
	case errors.Is(err, users.ErrInvite):
		s.opt.Invite.Throttle.AddressFailure(addr)
		return inviteInvalid, "refused: wrong, spent or expired code", false
	case errors.As(err, &conflict):
		return "invite: " + err.Error(), "refused: key " + conflict.Fingerprint + " already registered", false
	case errors.Is(err, users.ErrBadKey):
		return "invite: " + err.Error(), "refused: not a public key", false
	case err != nil:
		s.log.Error("invite redemption failed", "remote", sess.RemoteAddr().String(), "err", err)
		return "invite: the gateway could not register the key; try again later", "failed: " + err.Error(), false
	}
	host, port := s.publicHostPort()
	msg := fmt.Sprintf("Key %s (%s) registered for %s; the invite code is now spent.\nNext: ssh -p %s %s@%s\n",
		key.Fingerprint, key.Type, u.Name, port, u.Name, host)
	return msg, "key " + key.Fingerprint + " registered for " + u.Name, true
}

func (s *Server) publicHostPort() (string, string) {
	host, port, err := net.SplitHostPort(s.opt.Invite.Gateway)
	if err != nil || host == "" {
		return "GATEWAY", "2222"
	}
	return host, port
}

func (s *Server) inviteCommand() string {
	host, port := s.publicHostPort()
	return fmt.Sprintf("ssh -p %s %s@%s CODE < ~/.ssh/id_ed25519.pub", port, users.InviteAccount, host)
}

var (
	errInputTooLong = fmt.Errorf("expected one public key line on stdin, got more than %d KiB", maxInviteInput>>10)
	errNoInput      = errors.New("no public key on stdin")
)

// readCapped reads r to its end, at most max bytes and for at most d.
// The reader goroutine ends when the session's channel closes.
func readCapped(ctx context.Context, r io.Reader, max int, d time.Duration) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
		done <- result{b, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case res := <-done:
		switch {
		case len(res.b) > max:
			return nil, errInputTooLong
		case res.err != nil:
			return nil, fmt.Errorf("reading stdin: %w", res.err)
		case strings.TrimSpace(string(res.b)) == "":
			return nil, errNoInput
		}
		return res.b, nil
	case <-t.C:
		return nil, fmt.Errorf("%w within %s", errNoInput, d)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
