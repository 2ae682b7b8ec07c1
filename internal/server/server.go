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
	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/tick"
	"github.com/lxcgate/lxcgate/internal/users"
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
	Rooms              Rooms  // logins into containers (alice+box); nil refuses them
	HandshakeTimeout   time.Duration
	IdleTimeout        time.Duration
	MaxSessions        int
	MaxSessionsPerUser int
	MaxConnections     int

	// Per source (IPv4 address, IPv6 /64): connections that have not
	// finished authenticating, and connections in all; and channels open
	// at once on one connection. Zero means the default (10, 40, 10).
	MaxUnauthPerAddress      int
	MaxConnectionsPerAddress int
	MaxChannelsPerConnection int

	// Accounts is polled for users disabled or deleted by another process,
	// whose open connections then end; nil turns the watcher off.
	Accounts      *users.Store
	WatchInterval time.Duration // 0 means 400ms

	// Metrics hears of logins and sessions; nil counts nothing.
	Metrics Metrics

	// Invite turns on the invite login (invite.go); its zero value leaves it off.
	Invite InviteOptions
}

// Metrics is what the server reports: counts only, never a name. method
// is the SSH method ("password", "publickey", "keyboard-interactive",
// "none"); result is "ok", "fail" or "locked".
type Metrics interface {
	Login(method, result string)
	SessionOpened()
	SessionClosed()
	// ContainerSession counts an ended session into a container (kind:
	// shell, exec, sftp, forward) and its bytes each way.
	ContainerSession(kind string, in, out int64)
}

// noMetrics stands in when Options.Metrics is nil.
type noMetrics struct{}

func (noMetrics) Login(string, string) {}
func (noMetrics) SessionOpened()       {}
func (noMetrics) SessionClosed()       {}

func (noMetrics) ContainerSession(string, int64, int64) {}

// Defaults for the zero values of Options' limits.
const (
	defaultMaxUnauthPerAddress      = 10
	defaultMaxConnectionsPerAddress = 40
	defaultMaxChannelsPerConnection = 10
	defaultWatchInterval            = 400 * time.Millisecond
)

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
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

	conns    atomic.Int64
	maxConns atomic.Int64 // MaxConnections, which SetLimits may change
	maxChans atomic.Int32 // MaxChannelsPerConnection, likewise
	addrs    *throttle.Conns
	refusals *throttle.Sampler // connection refusals: a log line per source per minute
	lockouts *throttle.Sampler // refusals during a lockout: an audit record per key per minute
	live     *registry         // authenticated connections by user name
}

// New builds the server.
func New(opt Options) *Server {
	opt.MaxUnauthPerAddress = orDefault(opt.MaxUnauthPerAddress, defaultMaxUnauthPerAddress)
	opt.MaxConnectionsPerAddress = orDefault(opt.MaxConnectionsPerAddress, defaultMaxConnectionsPerAddress)
	opt.MaxChannelsPerConnection = orDefault(opt.MaxChannelsPerConnection, defaultMaxChannelsPerConnection)
	opt.WatchInterval = orDefault(opt.WatchInterval, defaultWatchInterval)
	if opt.Metrics == nil {
		opt.Metrics = noMetrics{}
	}
	s := &Server{
		opt: opt, log: opt.Log.With("component", "ssh"),
		sess:     newSessionCounter(opt.MaxSessions, opt.MaxSessionsPerUser),
		addrs:    throttle.NewConns(opt.MaxUnauthPerAddress, opt.MaxConnectionsPerAddress),
		refusals: throttle.NewSampler(time.Minute, 4096),
		lockouts: throttle.NewSampler(time.Minute, 4096),
		live:     newRegistry(),
	}
	s.maxConns.Store(int64(opt.MaxConnections))
	s.maxChans.Store(int32(opt.MaxChannelsPerConnection))
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
		// "direct-tcpip" to the caller's own containers (ssh -J). A login
		// into a container (alice+box) adds the sftp subsystem and the
		// locale's env requests. Everything else (other forwarding both
		// ways, unix sockets, agent, X11) is refused and logged. The forwarding
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
		// sftp only on a login into a container (alice+box): the
		// session filter refuses every subsystem request elsewhere.
		SubsystemHandlers: map[string]ssh.SubsystemHandler{
			"sftp": ssh.SubsystemHandler(chain(s.recoverPanics, s.logSession, s.identify, s.limitSessions)(s.sftp)),
		},
	}
	return s
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.summarize(ctx)
	if s.opt.Accounts != nil {
		go s.watch(ctx)
	}
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
	defer s.opt.Audit.Sync() // rows from logins that opened no session
	err := s.ssh.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.log.Warn("drain timed out; closing the remaining sessions", "sessions", s.sess.total())
		return s.ssh.Close()
	}
	return err
}

// connState is what the server learns about one connection during the
// handshake, and what it keeps to limit and end it.
type connState struct {
	authDone atomic.Bool
	lastErr  error // why the last password attempt failed, for the audit trail
	remote   string

	conn  net.Conn       // closed when the connection's account is disabled or deleted
	slot  *throttle.Slot // the connection's place in its source's counts
	names []string       // accounts the connection is registered under; registry's lock

	channels   atomic.Int32 // open channels
	chRefused  atomic.Int32 // channels refused past the cap
	endAudited atomic.Bool  // the end for a disabled or deleted account is recorded

	keyUser atomic.Pointer[authRecord] // the record the last accepted key read
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
	Invite bool // the invite login (invite.go); Lobby is set too
	// Target is where a login alice+box goes: the sessions run inside
	// that container, not in the gateway's shell. nil for a plain login.
	Target *Target
}

// accept caps connections, in total and per source, and starts the
// handshake timer. Refusals are logged once per source a minute (with the
// count since), never audited: a flood must not write a row per attempt.
func (s *Server) accept(ctx ssh.Context, conn net.Conn) net.Conn {
	remote := conn.RemoteAddr().String()
	if n, limit := s.conns.Add(1), s.maxConns.Load(); n > limit {
		s.conns.Add(-1)
		s.refused("*", remote, "too many connections", int(limit))
		return nil
	}
	key := addrKey(conn.RemoteAddr())
	slot, why, limit := s.addrs.Acquire(key)
	if slot == nil {
		s.conns.Add(-1)
		s.refused(key, remote, why, limit)
		return nil
	}
	st := &connState{remote: remote, slot: slot}
	ctx.SetValue(keyConnState, st)
	// gliderlabs' idle timeout moves the deadline on every read, so a client
	// trickling bytes would never time out; this timer bounds the handshake.
	timer := time.AfterFunc(s.opt.HandshakeTimeout, func() {
		if !st.authDone.Load() {
			s.log.Warn("handshake timed out", "remote", st.remote)
			conn.Close()
		}
	})
	tc := &trackedConn{Conn: conn, onClose: func() {
		timer.Stop()
		s.conns.Add(-1)
		s.addrs.Release(slot)
		s.live.remove(st)
		if n := st.chRefused.Load(); n > 1 {
			s.log.Info("channels refused past the cap", "remote", st.remote, "refused", n, "limit", s.maxChans.Load())
		}
	}}
	st.conn = tc
	return tc
}

// refused logs a refused connection, at most once a minute per key.
func (s *Server) refused(key, remote, why string, limit int) {
	if ok, since := s.refusals.Allow(key); ok {
		s.log.Warn("connection refused: "+why, "remote", remote, "source", key, "limit", limit, "refused_since_last_line", since)
	}
}

// summarize writes, once a minute, how many refusals the samplers kept out
// of the log and the audit trail without reporting them in a later line.
func (s *Server) summarize(ctx context.Context) {
	tick.Every(ctx, time.Minute, func() {
		if n := s.refusals.Drain(); n > 0 {
			s.log.Warn("connections refused without a log line of their own", "count", n)
		}
		if n := s.lockouts.Drain(); n > 0 {
			s.log.Warn("attempts refused during a lockout without an audit record of their own", "count", n)
		}
	})
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
