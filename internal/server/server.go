// Package server assembles lxcgate's SSH server: authentication against the
// user store, identity from the method that really succeeded, refusal of
// every forwarding and subsystem, limits, and the restricted shell. It knows
// nothing of containers or iptables.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// Options lists everything the server is built from, in one place.
type Options struct {
	HostKey gossh.Signer
	Auth    *auth.Authenticator
	Shell   *shell.Shell
	Audit   *audit.Log
	Log     *slog.Logger

	Lobby              string // lobby account name; "" when disabled
	Jump               Jumper // resolves ssh -J targets; nil refuses them all
	HandshakeTimeout   time.Duration
	IdleTimeout        time.Duration
	MaxSessions        int
	MaxSessionsPerUser int
	MaxConnections     int
}

// Jumper resolves a direct-tcpip destination (ssh -J alice@gw box1) to the
// address to dial, for the containers user may reach; anything else is an
// error. It keeps the SSH layer ignorant of containers and iptables.
type Jumper interface {
	Resolve(ctx context.Context, user, host string, port int) (string, error)
}

// Server is the SSH gateway.
type Server struct {
	opt  Options
	log  *slog.Logger
	ssh  *ssh.Server
	sess *sessionCounter

	conns atomic.Int64
}

// New builds the server.
func New(opt Options) *Server {
	s := &Server{opt: opt, log: opt.Log.With("component", "ssh"), sess: newSessionCounter(opt.MaxSessions, opt.MaxSessionsPerUser)}
	s.ssh = &ssh.Server{
		Version:     "lxcgate",
		HostSigners: []ssh.Signer{opt.HostKey},
		IdleTimeout: opt.IdleTimeout,
		Handler:     chain(s.recoverPanics, s.logSession, s.identify, s.limitSessions)(s.dispatch),

		// Password and keyboard-interactive go through gliderlabs' handlers;
		// public keys are checked in serverConfig's own callback, which gives
		// each key its own Permissions (see there).
		PasswordHandler:            s.password,
		KeyboardInteractiveHandler: s.keyboardInteractive,
		ServerConfigCallback:       s.serverConfig,
		ConnCallback:               s.accept,
		ConnectionFailedCallback:   s.connFailed,

		// Only "session" channels are served, with only shell, exec,
		// pty-req, window-change, signal and break requests, and
		// "direct-tcpip" to the caller's own containers (ssh -J). Everything
		// else (other forwarding both ways, unix sockets, agent, X11, env,
		// subsystems such as sftp) is refused and logged. The forwarding
		// callbacks of gliderlabs are left unset, so that nothing can be
		// forwarded even if a handler were added by mistake.
		ChannelHandlers: map[string]ssh.ChannelHandler{
			"session":      s.session,
			"direct-tcpip": s.directTCPIP,
			"default":      s.refuseChannel,
		},
		RequestHandlers: map[string]ssh.RequestHandler{
			"default": s.refuseGlobal,
		},
		SubsystemHandlers: nil,
	}
	return s
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.ssh.Serve(ln)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, tells idle interactive sessions to leave, and
// waits for running commands until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.opt.Shell.Drain()
	err := s.ssh.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.log.Warn("drain timed out; closing the remaining sessions", "sessions", s.sess.total())
		return s.ssh.Close()
	}
	return err
}

// connState is what the server learns about one connection during the
// handshake.
type connState struct {
	authDone atomic.Bool
	reason   string // why the last password attempt failed, for the audit trail
	remote   string
}

type ctxKey int

const (
	keyConnState ctxKey = iota
	keyIdentity
	keySlot
)

// Identity is who a session runs as, decided once from the method that
// succeeded.
type Identity struct {
	User   users.User
	Method string
	Lobby  bool
}

// accept caps connections and starts the handshake timer.
func (s *Server) accept(ctx ssh.Context, conn net.Conn) net.Conn {
	if n := s.conns.Add(1); n > int64(s.opt.MaxConnections) {
		s.conns.Add(-1)
		s.log.Warn("connection refused: too many connections", "remote", conn.RemoteAddr().String(), "limit", s.opt.MaxConnections)
		return nil
	}
	st := &connState{remote: conn.RemoteAddr().String()}
	ctx.SetValue(keyConnState, st)
	// gliderlabs' idle timeout moves the deadline on every read, so a client
	// trickling bytes would never time out; this timer bounds the handshake.
	timer := time.AfterFunc(s.opt.HandshakeTimeout, func() {
		if !st.authDone.Load() {
			s.log.Warn("handshake timed out", "remote", st.remote)
			conn.Close()
		}
	})
	return &trackedConn{Conn: conn, onClose: func() {
		timer.Stop()
		s.conns.Add(-1)
	}}
}

type trackedConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *trackedConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

func (s *Server) connFailed(conn net.Conn, err error) {
	s.log.Info("connection closed before login", "remote", conn.RemoteAddr().String(), "err", err)
}
