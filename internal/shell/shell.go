// Package shell is lxcgate's restricted command shell. One command table
// serves the interactive shell on a PTY, exec mode (ssh gw CMD) and commands
// piped without a PTY (ssh -T gw < script). Nothing here can reach a host
// shell: every command is a Go function in the table.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Authenticator is what the shell needs of authentication: login and passwd check
// passwords through the same throttle as SSH logins.
type Authenticator interface {
	Password(ctx context.Context, name, password, remote string) (users.User, error)
	ChangePassword(ctx context.Context, name, old, password, remote string) error
}

// Auditor records audit events.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Options is everything a Shell is built from, in one place.
type Options struct {
	Auth  Authenticator // checks passwords for login and passwd
	Audit Auditor
	Log   *slog.Logger
	Host  string // shown in the prompt
	// Services gives the container commands; nil leaves them out.
	Services containers.API
	Keys     KeyStore // the caller's gateway keys, for key --mine
	// Admin lets admins manage users (the user command); nil leaves it out.
	Admin UserAdmin
	// AuditLog gives the audit command; nil leaves it out.
	AuditLog AuditReader
	Public   string // host address in connection instructions
	Gateway  string // "host:port" of the gateway, for ProxyJump lines
	// LaunchWait bounds how long launch waits for a container's address
	// (DefaultLaunchWait when zero).
	LaunchWait time.Duration
	// Metrics counts commands; nil counts nothing.
	Metrics Metrics
	// Web gives the web and token commands; nil leaves them out.
	Web Web
	// Notices keeps members' notice addresses (email, user email); nil
	// leaves email out.
	Notices Notices
}

// Notices keeps the addresses notices are mailed to (notify.Notifier).
type Notices interface {
	SetEmail(ctx context.Context, user, address string) error
	Email(ctx context.Context, user string) (string, error)
}

// Metrics hears of each command line's outcome: the command's name in the
// table ("unknown" for anything else, so that what a user types never
// becomes a label), and "ok", "fail", "usage", "refused" or "unknown".
type Metrics interface {
	Command(name, result string)
}

// Shell holds what every session shares. Create it once, with New.
type Shell struct {
	Auth     Authenticator
	Audit    Auditor
	Log      *slog.Logger
	Host     string
	Draining chan struct{} // closed when the gateway shuts down

	live sessions // the interactive sessions, for Tell

	drained    context.Context // done once Draining is closed: idle sessions wait on it without a goroutine
	endDrained context.CancelFunc

	cmds       []*Command
	cs         containers.API
	keys       KeyStore
	admin      UserAdmin
	auditLog   AuditReader
	public     string
	gateway    string
	launchWait time.Duration
	metrics    Metrics
	web        Web
	notices    Notices
}

// New returns a Shell with its whole command table, in the order help
// lists it.
func New(o Options) *Shell {
	sh := &Shell{Auth: o.Auth, Audit: o.Audit, Log: o.Log.With("component", "shell"), Host: o.Host,
		Draining: make(chan struct{}), keys: o.Keys, admin: o.Admin, auditLog: o.AuditLog, public: o.Public, gateway: o.Gateway, launchWait: o.LaunchWait,
		metrics: o.Metrics, web: o.Web, notices: o.Notices}
	sh.drained, sh.endDrained = context.WithCancel(context.Background())
	if sh.launchWait == 0 {
		sh.launchWait = DefaultLaunchWait
	}
	own := builtins()
	sh.cmds = own[:1] // help first
	if o.Services != nil {
		sh.cs = o.Services
		for _, group := range [][]*Command{containerCmds(), snapshotCmds(), volumeCmds(), portCmds(), queueCmds(), usageCmds(), accessCmds(), quotaCmds()} {
			sh.cmds = append(sh.cmds, group...)
		}
	}
	if o.Web != nil {
		sh.cmds = append(sh.cmds, webCmds()...)
	}
	if o.Notices != nil && o.Services != nil {
		sh.cmds = append(sh.cmds, emailCmds()...)
	}
	if o.Admin != nil {
		sh.cmds = append(sh.cmds, userCmds()...)
	}
	if o.AuditLog != nil {
		sh.cmds = append(sh.cmds, auditCmds()...)
	}
	sh.cmds = append(sh.cmds, own[1:]...) // whoami, passwd, login, exit
	return sh
}

// Add adds commands to the end of the table (tests add their own).
func (sh *Shell) Add(cmds ...*Command) { sh.cmds = append(sh.cmds, cmds...) }

// Drain tells interactive sessions to end once their running command ends.
func (sh *Shell) Drain() {
	select {
	case <-sh.Draining:
	default:
		close(sh.Draining)
		sh.endDrained()
	}
}

// Window is a terminal size.
type Window struct{ Width, Height int }

// IO is one SSH session as the shell sees it.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	PTY    bool   // the client asked for a terminal
	Window Window // its size at start
	// OnResize, when set, is given at start the function that applies a
	// size change; the caller calls it, from a goroutine of its own, on
	// every change until the session ends (then it does nothing).
	OnResize func(apply func(Window))
	Close    func() // ends the session (used when draining)
	Remote   string // client address, for audit
	Method   string // how the user authenticated
	Relogin  func(users.User) error
	Busy     func(bool) // told when a command starts and ends; may be nil
	// Refresh re-reads the session's user before each command, so that a
	// role change applies at once and a disabled or deleted account runs
	// nothing more; an error ends the session. May be nil.
	Refresh func(ctx context.Context, name string) (users.User, error)
}

// Session is one user's run of the shell.
type Session struct {
	sh     *Shell
	io     IO
	user   users.User
	lobby  bool
	method string

	ctx  context.Context
	con  console
	out  io.Writer // data
	errw io.Writer // messages
	note string    // what the running command adds to its audit row
	host *Host     // set when the host command line runs the command (Exec)

	mu   sync.Mutex
	exit bool
}

// Run serves one SSH session and returns its exit status. With command set
// (exec mode) it runs that one line; otherwise it reads commands from a
// terminal (PTY) or from stdin.
func (sh *Shell) Run(ctx context.Context, sio IO, u users.User, lobby bool, command string, hasCommand bool) int {
	s := &Session{sh: sh, io: sio, user: u, lobby: lobby, method: sio.Method, ctx: ctx}
	if sio.PTY {
		t := newTermConsole(sio, s.prompt())
		defer t.stop()
		s.con, s.out, s.errw = t, t, t
		if !hasCommand {
			return s.interactive(t)
		}
	} else {
		p := newPipeConsole(sio.Stdin, sio.Stderr)
		s.con, s.out, s.errw = p, sio.Stdout, sio.Stderr
		if !hasCommand {
			return s.script(p)
		}
	}
	return s.runLine(command)
}

func (s *Session) prompt() string { return s.user.Name + "@" + s.sh.Host + "> " }

// script runs lines from a pipe, like sh: each line runs, the status is the
// last command's, and exit stops.
func (s *Session) script(p *pipeConsole) int {
	status := 0
	for !s.exited() {
		line, err := p.ReadLine("")
		if errors.Is(err, errLineTooLong) {
			fmt.Fprintf(s.errw, "error: %v\n", err)
			s.record([]string{"[script]"}, false, "line too long")
			return exitUsage
		}
		if err != nil {
			return status
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		status = s.runLine(line)
	}
	return status
}

func (s *Session) interactive(t *termConsole) int {
	if s.lobby {
		fmt.Fprintf(t, "Welcome to lxcgate on %s. This is the lobby: type 'login' to sign in.\n", s.sh.Host)
	} else {
		fmt.Fprintf(t, "Welcome to lxcgate on %s, %s. Type 'help' for commands.\n", s.sh.Host, s.user.Name)
		s.banner(t)
	}
	t.setCompleter(s.complete)
	stop := s.watchDrain(t)
	defer stop()
	if !s.lobby {
		defer s.sh.live.add(s.user.Name, t)()
	}
	status := 0
	for !s.exited() {
		t.setPrompt(s.prompt())
		line, err := t.readShellLine()
		if errors.Is(err, errInterrupt) {
			continue
		}
		if err != nil { // Ctrl-D on an empty line, or the connection went away
			fmt.Fprintln(t, "logout")
			return status
		}
		if strings.TrimSpace(line) == "" {
			continue // an empty line does nothing, never repeats
		}
		t.setBusy(true)
		status = s.runLine(line)
		t.setBusy(false)
		select {
		case <-s.sh.Draining:
			fmt.Fprintln(t, "lxcgate is restarting; reconnect in a moment.")
			return status
		default:
		}
	}
	return status
}

// watchDrain ends an idle interactive session when the gateway drains.
func (s *Session) watchDrain(t *termConsole) func() {
	stop := context.AfterFunc(s.sh.drained, func() {
		if t.closeIfIdle("\nlxcgate is restarting; reconnect in a moment.\n") && s.io.Close != nil {
			s.io.Close()
		}
	})
	return func() { stop() }
}

// end stops the session after the current command.
func (s *Session) end() {
	s.mu.Lock()
	s.exit = true
	s.mu.Unlock()
}

// refresh re-reads the session's user before a command: a role taken away
// applies now, and a disabled or deleted account runs nothing more.
func (s *Session) refresh() error {
	if s.lobby || s.io.Refresh == nil {
		return nil
	}
	u, err := s.io.Refresh(s.ctx, s.user.Name)
	if err != nil {
		s.sh.Log.Warn("session ended: account changed", "user", s.user.Name, "err", err)
		return errors.New("your account is no longer allowed to log in; the session ends")
	}
	s.user = u
	return nil
}

func (s *Session) exited() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exit
}

func (s *Session) lookup(name string) *Command {
	for _, c := range s.sh.cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// visible lists the commands this session may run, in table order.
func (s *Session) visible() []*Command {
	var out []*Command
	for _, c := range s.sh.cmds {
		if s.allowed(c) {
			out = append(out, c)
		}
	}
	return out
}

// become switches the session to u after a successful login.
func (s *Session) become(u users.User) error {
	if s.io.Relogin != nil {
		if err := s.io.Relogin(u); err != nil {
			return err
		}
	}
	s.user, s.lobby, s.method = u, false, "login"
	return nil
}
