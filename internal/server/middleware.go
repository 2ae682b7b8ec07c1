package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// Middleware wraps a session handler.
type Middleware func(ssh.Handler) ssh.Handler

// chain applies middleware so that the first listed is the outermost.
func chain(mw ...Middleware) func(ssh.Handler) ssh.Handler {
	return func(h ssh.Handler) ssh.Handler {
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		return h
	}
}

// recoverPanics keeps one session's panic from stopping the server.
func (s *Server) recoverPanics(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("session panicked", "user", audit.SafeName(sess.User()), "remote", sess.RemoteAddr().String(), "panic", r, "stack", string(debug.Stack()))
				fmt.Fprintln(sess.Stderr(), "error: internal error; the gateway logged it")
				sess.Exit(1)
			}
		}()
		next(sess)
	}
}

// logSession writes one line per session when it ends.
func (s *Server) logSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		start := time.Now()
		_, _, pty := sess.Pty()
		next(sess)
		if !s.log.Enabled(sess.Context(), slog.LevelInfo) {
			return
		}
		s.log.Info("session", "user", audit.SafeName(sess.User()), "remote", sess.RemoteAddr().String(), "pty", pty,
			"command", len(sess.RawCommand()) > 0, "duration", time.Since(start).Round(time.Millisecond))
	}
}

// identify fixes the session's identity from the successful method.
func (s *Server) identify(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		id, err := s.identityOf(sess.Context(), sess.Context())
		if err != nil {
			s.refuse(sess, "identity", err.Error())
			fmt.Fprintln(sess.Stderr(), "error: this account cannot log in now; ask a lab admin")
			sess.Exit(1)
			return
		}
		sess.Context().SetValue(keyIdentity, id)
		next(sess)
	}
}

func identity(sess ssh.Session) Identity {
	id, _ := sess.Context().Value(keyIdentity).(Identity)
	return id
}

// limitSessions caps open sessions per user and in total.
func (s *Server) limitSessions(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		id := identity(sess)
		if err := s.sess.acquire(id.User.Name); err != nil {
			s.refuse(sess, "session", err.Error())
			fmt.Fprintf(sess.Stderr(), "error: %v; close another session and retry\n", err)
			sess.Exit(1)
			return
		}
		held := &slot{name: id.User.Name}
		sess.Context().SetValue(keySlot, held)
		s.opt.Metrics.SessionOpened()
		defer s.opt.Metrics.SessionClosed()
		defer func() { s.sess.release(held.name) }()
		next(sess)
	}
}

// slot is the session's place in the counter; login moves it to another name.
type slot struct{ name string }

// dispatch hands the session to the shell. Shell versus exec is decided by
// whether a command was given, not by whether a PTY was asked for.
func (s *Server) dispatch(sess ssh.Session) {
	id := identity(sess)
	if id.Invite {
		s.invite(sess) // invite.go
		return
	}
	if id.Target != nil {
		code := s.direct(sess, id)
		s.opt.Audit.Sync()
		sess.Exit(code)
		return
	}
	ptyReq, winCh, isPty := sess.Pty()
	sio := shell.IO{
		Stdin: sess, Stdout: sess, Stderr: sess.Stderr(),
		PTY: isPty, Remote: sess.RemoteAddr().String(), Method: id.Method,
		Close: func() { sess.Exit(0) },
	}
	st := stateOf(sess.Context())
	sio.Refresh = s.refresh(st)
	if held, ok := sess.Context().Value(keySlot).(*slot); ok {
		sio.Relogin = s.relogin(held, st)
	}
	if isPty {
		sio.Window = shell.Window{Width: ptyReq.Window.Width, Height: ptyReq.Window.Height}
		sio.OnResize = forwardResizes(winCh)
	}
	// gliderlabs' idle timeout counts only traffic; a long command that
	// prints nothing (an image unpack) must not be cut, so keepalives flow
	// while a command runs. An idle prompt still times out.
	// The keepalive goroutine runs only while a command does: an idle
	// session has none.
	if s.opt.IdleTimeout > 0 {
		if conn, ok := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn); ok {
			ka := &keepAlive{ctx: sess.Context(), conn: conn, every: max(s.opt.IdleTimeout/3, time.Second)}
			sio.Busy = ka.busy
			defer ka.busy(false)
		}
	}
	raw := sess.RawCommand()
	code := s.opt.Shell.Run(sess.Context(), sio, id.User, id.Lobby, raw, raw != "")
	// A client that sees the exit status finds the session's rows, and its
	// login's, in the audit table.
	s.opt.Audit.Sync()
	sess.Exit(code)
}

// relogin moves the session's slot to the account a lobby login chose.
func (s *Server) relogin(held *slot, st *connState) func(users.User) error {
	return func(u users.User) error {
		// The new identity needs a slot of its own under its own limit.
		if err := s.sess.acquire(u.Name); err != nil {
			return err
		}
		s.sess.release(held.name)
		held.name = u.Name
		// From now on the connection ends if u's account goes.
		s.live.add(u.Name, st)
		return nil
	}
}

// forwardResizes starts the one goroutine that takes gliderlabs' window
// changes to the shell's terminal, and returns the shell's OnResize; a
// change before the shell is ready waits for it.
func forwardResizes(winCh <-chan ssh.Window) func(func(shell.Window)) {
	var (
		mu      sync.Mutex
		apply   func(shell.Window)
		pending *shell.Window
	)
	go func() {
		for w := range winCh {
			sw := shell.Window{Width: w.Width, Height: w.Height}
			mu.Lock()
			if apply != nil {
				apply(sw)
			} else {
				pending = &sw
			}
			mu.Unlock()
		}
	}()
	return func(f func(shell.Window)) {
		mu.Lock()
		defer mu.Unlock()
		apply = f
		if pending != nil {
			f(*pending)
			pending = nil
		}
	}
}

func (s *Server) refuse(sess ssh.Session, what, why string) {
	s.opt.Audit.Record(sess.Context(), audit.Event{Kind: audit.KindRefusal, User: audit.SafeName(sess.User()),
		Remote: sess.RemoteAddr().String(), Method: what, Detail: why})
}

// sessionCounter counts open sessions.
type sessionCounter struct {
	max, perUser int
	mu           sync.Mutex
	all          int
	by           map[string]int
}

func newSessionCounter(max, perUser int) *sessionCounter {
	return &sessionCounter{max: max, perUser: perUser, by: map[string]int{}}
}

func (c *sessionCounter) set(max, perUser int) {
	c.mu.Lock()
	c.max, c.perUser = max, perUser
	c.mu.Unlock()
}

func (c *sessionCounter) acquire(user string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all >= c.max {
		return fmt.Errorf("the gateway is at its limit of %d sessions", c.max)
	}
	if c.by[user] >= c.perUser {
		return fmt.Errorf("%s already has %d sessions open (the limit)", user, c.perUser)
	}
	c.all++
	c.by[user]++
	return nil
}

func (c *sessionCounter) release(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all--
	if c.by[user]--; c.by[user] <= 0 {
		delete(c.by, user)
	}
}

func (c *sessionCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all
}

// keepAlive sends keepalives on a connection while busy.
type keepAlive struct {
	ctx   context.Context
	conn  gossh.Conn
	every time.Duration

	mu   sync.Mutex
	stop chan struct{} // the running goroutine's; nil when none runs
}

// busy starts or stops the keepalives.
func (k *keepAlive) busy(b bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case b && k.stop == nil:
		k.stop = make(chan struct{})
		go k.run(k.stop)
	case !b && k.stop != nil:
		close(k.stop)
		k.stop = nil
	}
}

func (k *keepAlive) run(stop <-chan struct{}) {
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-k.ctx.Done():
			return
		case <-t.C:
			k.conn.SendRequest("keepalive@openssh.com", true, nil)
		}
	}
}
