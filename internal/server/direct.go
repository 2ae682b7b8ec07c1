package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd"
	gossh "golang.org/x/crypto/ssh"
)

// Rooms opens sessions inside a user's own containers: the login
// alice+box (or alice+box+root) authenticates as alice and lands in her
// container box. containers.Service is it; nil refuses such logins.
type Rooms interface {
	Enter(ctx context.Context, user, container, login string) (*containers.Entry, error)
}

// Target is where a login name routes its sessions: a container of the
// account's, and the user inside ("" for the configured one).
type Target struct {
	Container string
	Login     string
}

// splitLogin cuts an SSH login name into the gateway account and, for
// "user+container[+login]", the target. Account names never hold '+'
// (users.ValidName), so the first '+' ends the account. The target is not
// checked here: an impossible one gets, after authentication, the answer
// of a container that does not exist.
func splitLogin(raw string) (string, *Target) {
	account, rest, ok := strings.Cut(raw, "+")
	if !ok {
		return raw, nil
	}
	t := &Target{}
	var second bool
	t.Container, t.Login, second = strings.Cut(rest, "+")
	if second && t.Login == "" {
		t.Login = "+" // "alice+box+" names no one: refused like any bad name
	}
	return account, t
}

// enter resolves the session's target, telling the client in one line
// when there is nothing to enter. The refusal is audited.
func (s *Server) enter(sess ssh.Session, id Identity, kind string) (*containers.Entry, bool) {
	if s.opt.Rooms == nil {
		s.refuse(sess, kind, "logins into containers are off")
		fmt.Fprintln(sess.Stderr(), "lxcgate: logins into containers are off on this gateway")
		return nil, false
	}
	ctx, cancel := context.WithTimeout(sess.Context(), 2*time.Minute) // a start_on_login start included
	defer cancel()
	e, err := s.opt.Rooms.Enter(ctx, id.User.Name, id.Target.Container, id.Target.Login)
	if err != nil {
		why := err.Error()
		if errors.Is(err, containers.ErrNoEntry) {
			why = containers.ErrNoEntry.Error()
		}
		s.refuse(sess, kind, why)
		fmt.Fprintf(sess.Stderr(), "lxcgate: %s\n", why)
		return nil, false
	}
	return e, true
}

// direct runs a session inside the login's container: the login shell
// with a PTY and no command, else the command.
func (s *Server) direct(sess ssh.Session, id Identity) int {
	kind := containers.KindExec
	ptyReq, winCh, isPty := sess.Pty()
	if sess.RawCommand() == "" {
		kind = containers.KindShell
	}
	e, ok := s.enter(sess, id, kind)
	if !ok {
		return 1
	}
	defer e.Close()
	run := containers.Session{Kind: kind, Command: sess.RawCommand(), Env: environ(sess.Environ())}
	if isPty {
		run.TTY = &lxd.Window{Width: ptyReq.Window.Width, Height: ptyReq.Window.Height}
		run.Env["TERM"] = ptyReq.Term
	}
	run.Control = controls(sess, winCh)
	return s.runIn(sess, id, e, run)
}

// sftp serves the "sftp" subsystem of a login into a container: the
// image's own sftp-server, running as the container user.
func (s *Server) sftp(sess ssh.Session) {
	id := identity(sess)
	if id.Target == nil {
		s.refuse(sess, "subsystem sftp", "sftp only on a login into a container")
		fmt.Fprintln(sess.Stderr(), "lxcgate: sftp works on a login into a container: USER+CONTAINER@gateway")
		sess.Exit(1)
		return
	}
	e, ok := s.enter(sess, id, containers.KindSFTP)
	if !ok {
		sess.Exit(1)
		return
	}
	defer e.Close()
	sess.Exit(s.runIn(sess, id, e, containers.Session{Kind: containers.KindSFTP}))
}

// runIn runs one session in an entry, counts its bytes, and audits it
// once it ends. A session ended by the gateway's stop of its container
// gets the notice.
func (s *Server) runIn(sess ssh.Session, id Identity, e *containers.Entry, run containers.Session) int {
	start := time.Now()
	var in, out atomic.Int64
	run.Stdin, run.Stdout = &countReader{r: sess, n: &in}, &countWriter{w: sess, n: &out}
	if run.TTY == nil {
		run.Stderr = &countWriter{w: sess.Stderr(), n: &out}
	}
	code, err := e.Run(sess.Context(), run)
	if n := e.Notice(); n != "" {
		fmt.Fprintln(sess.Stderr(), n)
	}
	if err != nil {
		s.log.Warn("session into a container failed", "user", id.User.Name, "container", e.Ref.Name, "err", err)
		fmt.Fprintf(sess.Stderr(), "lxcgate: %v\n", err)
		code = 255
	}
	what := run.Kind
	if run.Kind == containers.KindExec {
		what += " " + commandWord(run.Command)
	}
	s.recordSession(sess.Context(), id, e, run.Kind, fmt.Sprintf("%s; %d B in, %d B out, %s, exit %d",
		what, in.Load(), out.Load(), time.Since(start).Round(time.Millisecond), code), code == 0, in.Load(), out.Load())
	return code
}

// commandWord is what the audit keeps of a command run in a container:
// its first word, never its arguments (a password may be one).
func commandWord(cmd string) string {
	f := strings.FieldsFunc(cmd, func(r rune) bool { return strings.ContainsRune(" \t\n;&|<>()`$'\"", r) })
	if len(f) == 0 {
		return "[empty]"
	}
	w := f[0]
	if len(w) > 64 {
		w = w[:64]
	}
	return audit.SafeName(w)
}

// environ turns the client's env requests into a map; the entry keeps only
// what may pass (TERM, LANG, LC_*).
func environ(kvs []string) map[string]string {
	env := map[string]string{}
	for _, kv := range kvs {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// controls merges a session's window changes and signals into the
// process's control messages. The goroutines end with the session.
func controls(sess ssh.Session, winCh <-chan ssh.Window) <-chan lxd.Control {
	out := make(chan lxd.Control, 4)
	sigs := make(chan ssh.Signal, 4)
	sess.Signals(sigs)
	done := sess.Context().Done()
	send := func(c lxd.Control) {
		select {
		case out <- c:
		case <-done:
		}
	}
	go func() {
		defer sess.Signals(nil)
		for {
			select {
			case sig := <-sigs:
				if n, ok := signals[sig]; ok {
					send(lxd.Control{Signal: n})
				}
			case w, ok := <-winCh:
				if !ok {
					winCh = nil
					continue
				}
				send(lxd.Control{Window: lxd.Window{Width: w.Width, Height: w.Height}})
			case <-done:
				return
			}
		}
	}()
	return out
}

// signals are the signal names of RFC 4254, 6.10.
var signals = map[ssh.Signal]syscall.Signal{
	ssh.SIGABRT: syscall.SIGABRT, ssh.SIGALRM: syscall.SIGALRM, ssh.SIGFPE: syscall.SIGFPE, ssh.SIGHUP: syscall.SIGHUP,
	ssh.SIGILL: syscall.SIGILL, ssh.SIGINT: syscall.SIGINT, ssh.SIGKILL: syscall.SIGKILL, ssh.SIGPIPE: syscall.SIGPIPE,
	ssh.SIGQUIT: syscall.SIGQUIT, ssh.SIGSEGV: syscall.SIGSEGV, ssh.SIGTERM: syscall.SIGTERM, ssh.SIGUSR1: syscall.SIGUSR1,
	ssh.SIGUSR2: syscall.SIGUSR2,
}

type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// forwardInto serves -L and -D on a login into a container: the
// destination is the container's own loopback or address, reached by a
// relay inside it. The connection is one audited session of kind forward.
func (s *Server) forwardInto(ctx ssh.Context, ch gossh.NewChannel, id Identity, req directTCPIPRequest, dest string, refuse func(string), release func()) {
	if s.opt.Rooms == nil {
		refuse("logins into containers are off")
		return
	}
	e, err := s.opt.Rooms.Enter(ctx, id.User.Name, id.Target.Container, id.Target.Login)
	if err != nil {
		if errors.Is(err, containers.ErrNoEntry) {
			err = containers.ErrNoEntry
		}
		refuse(err.Error())
		return
	}
	defer e.Close()
	relay, err := e.Forward(ctx, req.Host, int(req.Port))
	if err != nil {
		refuse(err.Error())
		return
	}
	defer relay.Close()
	channel, reqs, err := ch.Accept()
	if err != nil {
		return
	}
	go gossh.DiscardRequests(reqs)
	start := time.Now()
	var in, out atomic.Int64
	splice(&countChannel{Channel: channel, in: &in, out: &out}, relay)
	release()
	channel.Close()
	if n := e.Notice(); n != "" {
		s.log.Info("forward ended by the container's stop", "user", id.User.Name, "container", e.Ref.Name)
	}
	s.recordSession(ctx, id, e, containers.KindForward, fmt.Sprintf("forward %s; %d B in, %d B out, %s",
		dest, in.Load(), out.Load(), time.Since(start).Round(time.Millisecond)), true, in.Load(), out.Load())
}

// recordSession writes a session's one audit row (never its content) and
// counts it.
func (s *Server) recordSession(ctx ssh.Context, id Identity, e *containers.Entry, kind, what string, ok bool, in, out int64) {
	s.opt.Audit.Record(ctx, audit.Event{Kind: audit.KindSession, User: id.User.Name, Remote: ctx.RemoteAddr().String(),
		Method: kind, OK: ok, Detail: fmt.Sprintf("%s as %s: %s", e.Ref.Name, e.Login, what)})
	s.opt.Metrics.ContainerSession(kind, in, out)
}

// countChannel counts a forwarded channel's bytes: in from the client,
// out to it.
type countChannel struct {
	gossh.Channel
	in, out *atomic.Int64
}

func (c *countChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countChannel) Write(p []byte) (int, error) {
	n, err := c.Channel.Write(p)
	c.out.Add(int64(n))
	return n, err
}
