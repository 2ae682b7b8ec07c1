package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// Algorithms offered: only modern ones (ssh-audit finds nothing to fail or
// warn about but names newer than itself). OpenSSH 8.4 (Debian 11) and
// later speak curve25519-sha256 and chacha20-poly1305 or AES-GCM, so every
// supported client connects; mlkem768x25519 is preferred when the client
// has it (OpenSSH 9.9+). All three ciphers are AEAD, so no MAC is ever
// used; the list names only encrypt-then-MAC ones because it cannot be
// empty. The host key is Ed25519 alone (hostkey.go).
var (
	kexAlgorithms = []string{gossh.KeyExchangeMLKEM768X25519, gossh.KeyExchangeCurve25519, "curve25519-sha256@libssh.org"}
	ciphers       = []string{gossh.CipherChaCha20Poly1305, gossh.CipherAES256GCM, gossh.CipherAES128GCM}
	macs          = []string{gossh.HMACSHA256ETM, gossh.HMACSHA512ETM}
)

// Permission extensions carrying the identity a callback accepted. x/crypto
// keeps, for the connection, the Permissions returned by the callback whose
// attempt succeeded, so these name the user of the method that really
// succeeded, never merely an offered key.
const (
	extUser   = "lxcgate-user"
	extMethod = "lxcgate-method"
	extLobby  = "lxcgate-lobby"
)

// freshLogin is how long the user record that a key login read stands in
// for the re-reads of the connection's first moments: the session's
// identity and the refresh before its first command. Shorter than the
// watcher's poll (400 ms), which ends the connections of an account
// disabled meanwhile: "ssh gw CMD" then costs one user read, not three.
const freshLogin = 250 * time.Millisecond

// authRecord is the user record a key login read, and when.
type authRecord struct {
	user users.User
	at   time.Time
}

func stateOf(ctx ssh.Context) *connState {
	st, _ := ctx.Value(keyConnState).(*connState)
	if st == nil {
		st = &connState{remote: ctx.RemoteAddr().String()}
	}
	return st
}

// serverConfig adds what gliderlabs has no option for. gliderlabs'
// PublicKeyHandler returns one shared Permissions for every key and keeps
// the last key *offered* in the context (its issue #242, the CVE-2024-45337
// family); the callback here instead returns fresh Permissions per key, so a
// key that was only offered, or failed its signature, cannot become the
// session's identity.
func (s *Server) serverConfig(ctx ssh.Context) *gossh.ServerConfig {
	st := stateOf(ctx)
	cfg := &gossh.ServerConfig{MaxAuthTries: 6}
	cfg.KeyExchanges, cfg.Ciphers, cfg.MACs = kexAlgorithms, ciphers, macs
	cfg.PublicKeyCallback = s.publicKeyCallback(ctx, st)
	if s.opt.Lobby != "" {
		// The lobby needs no credentials: "none" succeeds for its name only.
		cfg.NoClientAuth = true
		cfg.NoClientAuthCallback = func(meta gossh.ConnMetadata) (*gossh.Permissions, error) {
			if meta.User() != s.opt.Lobby {
				return nil, errors.New("no")
			}
			return lobbyPermissions(s.opt.Lobby, "none"), nil
		}
	}
	if s.opt.Invite.Store != nil {
		s.allowInviteNone(cfg) // invite.go
	}
	cfg.AuthLogCallback = func(meta gossh.ConnMetadata, method string, err error) {
		if err == nil {
			s.loginSucceeded(ctx, st, meta, method)
			return
		}
		if method == "none" {
			return // every client tries "none" first; it is not an attempt
		}
		s.loginFailed(ctx, st, meta, method)
	}
	return cfg
}

// publicKeyCallback returns fresh Permissions for each key the store
// accepts, and notes the key's user on the connection.
func (s *Server) publicKeyCallback(ctx ssh.Context, st *connState) func(gossh.ConnMetadata, gossh.PublicKey) (*gossh.Permissions, error) {
	return func(meta gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
		account, _ := splitLogin(meta.User())
		u, err := s.opt.Auth.Key(ctx, account, key)
		if err != nil {
			if !errors.Is(err, users.ErrAuth) && !errors.Is(err, users.ErrDisabled) {
				// Not a refused key: the store failed, and the client is told no.
				s.log.Error("key lookup failed", "user", audit.SafeName(meta.User()), "remote", st.remote, "err", err)
			}
			return nil, err
		}
		st.keyUser.Store(&authRecord{user: u, at: time.Now()})
		return &gossh.Permissions{Extensions: map[string]string{
			extUser: u.Name, extMethod: "publickey",
		}}, nil
	}
}

// loginSucceeded counts and records a login, and ties the connection to
// its account.
func (s *Server) loginSucceeded(ctx ssh.Context, st *connState, meta gossh.ConnMetadata, method string) {
	// The name comes from the client: only its safe form is recorded.
	name := audit.SafeName(meta.User())
	s.opt.Metrics.Login(method, "ok")
	st.authDone.Store(true)
	s.addrs.Authenticated(st.slot)
	if (s.opt.Lobby == "" || meta.User() != s.opt.Lobby) && !s.isInvite(meta.User()) {
		// Lobby connections belong to no account until login; a login
		// into a container (alice+box) belongs to its account.
		account, _ := splitLogin(meta.User())
		s.live.add(account, st)
	}
	// Written with the session's first rows, or within
	// milliseconds: a session syncs the trail before it ends.
	s.opt.Audit.RecordSoon(ctx, audit.Event{Kind: audit.KindLogin, User: name, Remote: st.remote, Method: method, Detail: "ok", OK: true})
}

// loginFailed counts and records a failed attempt; while an account or
// address is locked out, at most one record a minute.
func (s *Server) loginFailed(ctx ssh.Context, st *connState, meta gossh.ConnMetadata, method string) {
	// The name comes from the client: only its safe form is recorded.
	name := audit.SafeName(meta.User())
	detail := "unknown key or key of another user"
	if method != "publickey" {
		detail = "authentication failed"
		if st.lastErr != nil {
			detail = st.lastErr.Error()
		}
	}
	var locked *auth.LockedError
	result := "fail"
	if method != "publickey" && errors.As(st.lastErr, &locked) {
		result = "locked"
	}
	s.opt.Metrics.Login(method, result)
	if result == "locked" {
		// A sprayer goes on while locked out: one record a minute per
		// locked account or address, carrying the count in between.
		ok, suppressed := s.lockouts.Allow(locked.Key)
		if !ok {
			return
		}
		if suppressed > 0 {
			detail += fmt.Sprintf("; %d more attempts refused since the last record", suppressed)
		}
	}
	s.opt.Audit.Record(ctx, audit.Event{Kind: audit.KindLogin, User: name, Remote: st.remote, Method: method, Detail: detail})
}

func lobbyPermissions(name, method string) *gossh.Permissions {
	return &gossh.Permissions{Extensions: map[string]string{extUser: name, extMethod: method, extLobby: "1"}}
}

// password answers yes or no; identity is read later from the Permissions.
func (s *Server) password(ctx ssh.Context, password string) bool {
	return s.checkPassword(ctx, password, "password")
}

// keyboardInteractive serves clients that only offer keyboard-interactive:
// one question, the password, without echo.
func (s *Server) keyboardInteractive(ctx ssh.Context, challenge gossh.KeyboardInteractiveChallenge) bool {
	if s.opt.Lobby != "" && ctx.User() == s.opt.Lobby {
		return s.checkPassword(ctx, "", "keyboard-interactive")
	}
	stateOf(ctx).lastErr = nil // a failed challenge must not report an older attempt's reason
	answers, err := challenge("", "", []string{"Password: "}, []bool{false})
	if err != nil || len(answers) != 1 {
		return false
	}
	return s.checkPassword(ctx, answers[0], "keyboard-interactive")
}

func (s *Server) checkPassword(ctx ssh.Context, password, method string) bool {
	st := stateOf(ctx)
	perms := ctx.Permissions()
	if s.opt.Lobby != "" && ctx.User() == s.opt.Lobby {
		// Clients that insist on a password still get into the lobby.
		perms.Extensions = lobbyPermissions(s.opt.Lobby, method).Extensions
		return true
	}
	st.lastErr = nil
	account, _ := splitLogin(ctx.User())
	u, err := s.opt.Auth.Password(ctx, account, password, st.remote)
	if err != nil {
		st.lastErr = err
		if !errors.Is(err, users.ErrAuth) && !errors.Is(err, auth.ErrLocked) {
			// Locked attempts are accounted in the sampled audit records.
			s.log.Info("password refused", "user", audit.SafeName(ctx.User()), "remote", st.remote, "reason", err)
		}
		return false
	}
	perms.Extensions = map[string]string{extUser: u.Name, extMethod: method}
	return true
}

// identityOf reads the identity fixed at authentication.
func (s *Server) identityOf(ctx context.Context, sctx ssh.Context) (Identity, error) {
	conn, ok := sctx.Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	if !ok || conn.Permissions == nil {
		return Identity{}, errors.New("no authenticated connection")
	}
	ext := conn.Permissions.Extensions
	name, method := ext[extUser], ext[extMethod]
	account, target := splitLogin(conn.User())
	if name == "" || name != account {
		return Identity{}, errors.New("connection carries no identity")
	}
	if ext[extInvite] == "1" {
		return inviteIdentity(name), nil // invite.go
	}
	if ext[extLobby] == "1" {
		return Identity{User: users.User{Name: name, Role: users.RoleUser}, Method: method, Lobby: true}, nil
	}
	// Re-read the user: an account disabled since login gets no new session.
	// A session opened right after a key login uses the record that login
	// read (freshLogin).
	if r := stateOf(sctx).keyUser.Load(); r != nil && method == "publickey" && r.user.Name == name &&
		time.Since(r.at) < freshLogin {
		return Identity{User: r.user, Method: method, Target: target}, nil
	}
	u, err := s.opt.Auth.User(ctx, name)
	if err != nil {
		return Identity{}, err
	}
	if u.Disabled {
		return Identity{}, users.ErrDisabled
	}
	return Identity{User: u, Method: method, Target: target}, nil
}
