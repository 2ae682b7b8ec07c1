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
	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Users is what the shell needs of authentication: login and passwd check
// passwords through the same throttle as SSH logins.
type Users interface {
	Password(ctx context.Context, name, password, remote string) (users.User, error)
	ChangePassword(ctx context.Context, name, old, password, remote string) error
}

// Auditor records audit events.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Options is everything a Shell is built from, in one place.
type Options struct {
	Users Users
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
}

// Metrics hears of each command line's outcome: the command's name in the
// table ("unknown" for anything else, so that what a user types never
// becomes a label), and "ok", "fail", "usage", "refused" or "unknown".
type Metrics interface {
	Command(name, result string)
}

// Shell holds what every session shares. Create it once, with New.
type Shell struct {
	Users    Users
	Audit    Auditor
	Log      *slog.Logger
	Host     string
	Draining chan struct{} // closed when the gateway shuts down

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
}

// New returns a Shell with its whole command table, in the order help
// lists it.
func New(o Options) *Shell {
	sh := &Shell{Users: o.Users, Audit: o.Audit, Log: o.Log.With("component", "shell"), Host: o.Host,
		Draining: make(chan struct{}), keys: o.Keys, admin: o.Admin, auditLog: o.AuditLog, public: o.Public, gateway: o.Gateway, launchWait: o.LaunchWait,
		metrics: o.Metrics, web: o.Web}
	sh.drained, sh.endDrained = context.WithCancel(context.Background())
	if sh.launchWait == 0 {
		sh.launchWait = DefaultLaunchWait
	}
	own := builtins()
	sh.cmds = own[:1] // help first
	if o.Services != nil {
		sh.cs = o.Services
		for _, group := range [][]*Command{containerCmds(), snapshotCmds(), portCmds(), accessCmds(), quotaCmds()} {
			sh.cmds = append(sh.cmds, group...)
		}
	}
	if o.Web != nil {
		sh.cmds = append(sh.cmds, webCmds()...)
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
	return s.line(command)
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
		status = s.line(line)
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
		status = s.line(line)
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

// line runs one command line and returns its exit status.
func (s *Session) line(line string) int {
	if len(line) > MaxLine {
		fmt.Fprintf(s.errw, "error: the command line is longer than %d KiB; nothing was run\n", MaxLine>>10)
		s.record([]string{s.firstWord(strings.Fields(line))}, false, "line too long")
		s.count(nil, "usage")
		return exitUsage
	}
	args, err := cli.Split(line)
	if err != nil {
		fmt.Fprintf(s.errw, "error: %v; nothing was run\n", err)
		s.record([]string{s.firstWord(strings.Fields(line))}, false, "quoting error")
		s.count(nil, "usage")
		return exitUsage
	}
	if len(args) == 0 {
		return 0
	}
	return s.run(args)
}

// firstWord is what the audit keeps of a line that ran no command: the
// command's name when it is one, else nothing. A password typed at the
// wrong prompt ends up here, and must not be recorded.
func (s *Session) firstWord(words []string) string {
	if len(words) > 0 {
		if cmd := s.lookup(words[0]); cmd != nil {
			return cmd.Name
		}
	}
	return "[unknown]"
}

// Exit statuses, as a POSIX shell uses them.
const (
	exitOK      = 0
	exitFail    = 1
	exitUsage   = 2
	exitUnknown = 127
)

func (s *Session) run(args []string) int {
	cmd := s.lookup(args[0])
	if cmd == nil {
		msg := fmt.Sprintf("unknown command %q", args[0])
		if near := s.closest(args[0]); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		fmt.Fprintf(s.errw, "error: %s (type 'help' for the list)\n", msg)
		s.record([]string{s.firstWord(args)}, false, "unknown command")
		s.count(nil, "unknown")
		return exitUnknown
	}
	if err := s.refresh(); err != nil {
		fmt.Fprintf(s.errw, "error: %v\n", err)
		s.record(redact(cmd, args), false, "refused: "+err.Error())
		s.count(cmd, "refused")
		s.end()
		return exitFail
	}
	if why := s.gate(cmd, nil); why != "" {
		return s.refuse(cmd, args, why)
	}
	inv, err := cmd.parse(args[1:])
	if err == nil && inv.flags.Bool(cli.HelpFlag.Name) {
		cmd.writeHelp(s.out, s.user.IsAdmin())
		s.record(redact(cmd, args), true, "ok")
		s.count(cmd, "ok")
		return exitOK
	}
	if err == nil {
		if why := s.gate(cmd, inv); why != "" {
			return s.refuse(cmd, args, why)
		}
		err = inv.checkCount()
	}
	if err == nil {
		err = s.invoke(inv)
	}
	return s.result(cmd, args, err)
}

// refuse answers a command, flag or argument its gate refused. Saying why
// is kinder than "unknown command", and reveals nothing secret.
func (s *Session) refuse(cmd *Command, args []string, why string) int {
	fmt.Fprintf(s.errw, "error: %s %s\n", cmd.Name, why)
	s.record(redact(cmd, args), false, "refused: "+why)
	s.count(cmd, "refused")
	return exitFail
}

// invoke runs a parsed command under its own context.
func (s *Session) invoke(inv *invocation) error {
	ctx, cancel := s.con.commandContext(s.ctx)
	defer cancel()
	if s.io.Busy != nil {
		s.io.Busy(true)
		defer s.io.Busy(false)
	}
	c := &Ctx{ctx: ctx, s: s, sh: s.sh, Out: s.out, Err: s.errw, User: s.user, Remote: s.io.Remote, Method: s.method,
		Interactive: s.io.PTY, Flags: inv.flags}
	s.note = ""
	err := s.call(inv.cmd, c, inv.args)
	if errors.Is(err, errNoTerminal) {
		// In a script the next line is likely the secret itself: stop
		// before it runs as a command (and lands in the audit).
		s.end()
	}
	return err
}

// result reports a command's outcome and returns its exit status.
func (s *Session) result(cmd *Command, args []string, err error) int {
	if err == nil {
		ok := "ok"
		if s.note != "" {
			ok += ": " + s.note
		}
		s.record(redact(cmd, args), true, ok)
		s.count(cmd, "ok")
		return exitOK
	}
	code, result := exitFail, "fail"
	var ue cli.UsageError
	if errors.As(err, &ue) {
		code, result = exitUsage, "usage"
		fmt.Fprintf(s.errw, "error: %s: %v (see 'help %s')\n", cmd.Name, err, cmd.Name)
	} else {
		fmt.Fprintf(s.errw, "error: %v%s\n", err, hint(err))
	}
	s.record(redact(cmd, args), false, err.Error())
	s.count(cmd, result)
	return code
}

// hint names the command that helps after a domain error: the services
// say what went wrong, in their words; the shell says what to type next.
func hint(err error) string {
	name := "NAME"
	var e *containers.Error
	if errors.As(err, &e) && e.Name != "" {
		name = e.Name
	}
	switch {
	case errors.Is(err, containers.ErrNoSuch):
		return " (see 'list')"
	case errors.Is(err, containers.ErrStopped):
		return fmt.Sprintf("; 'start %s' first", name)
	case errors.Is(err, containers.ErrNoImage):
		return "; see 'images'"
	case errors.Is(err, containers.ErrNoGPU):
		return "; see 'gpus' for ids, UUIDs and PCI addresses"
	case errors.Is(err, containers.ErrGPUHeld):
		return "; see 'gpus' for free ones"
	case errors.Is(err, containers.ErrNoSnapshot):
		return fmt.Sprintf("; see 'snapshots %s'", name)
	case errors.Is(err, containers.ErrPortUsed), errors.Is(err, containers.ErrNoPortRule):
		return fmt.Sprintf("; see 'ports %s'", name)
	case errors.Is(err, containers.ErrNoKey):
		return fmt.Sprintf("; see 'key %s --list'", name)
	case errors.Is(err, containers.ErrQuota):
		return "; see 'quota'"
	case errors.Is(err, containers.ErrExpired):
		return fmt.Sprintf("; 'renew %s' first", name)
	case errors.Is(err, users.ErrKeyNotFound):
		return "; see 'keys'"
	}
	return ""
}

// call runs a command, turning a panic into an error: one broken command
// must not end the session, let alone the server.
func (s *Session) call(cmd *Command, c *Ctx, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.sh.Log.Error("command panicked", "cmd", cmd.Name, "user", s.user.Name, "panic", r)
			err = fmt.Errorf("%s failed unexpectedly; the error was logged", cmd.Name)
		}
	}()
	return cmd.dispatch(c, args)
}

// redact keeps the flags of a Secret command and hides its other arguments:
// a password typed on the command line by mistake must not be recorded.
func redact(cmd *Command, args []string) []string {
	if !cmd.Secret {
		return args
	}
	out := []string{args[0]}
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			a = "[redacted]"
		}
		out = append(out, a)
	}
	return out
}

func (s *Session) record(args []string, ok bool, result string) {
	s.sh.Audit.Record(s.ctx, audit.Event{
		Kind: audit.KindCommand, User: s.user.Name, Remote: s.io.Remote,
		Method: s.method, Detail: quote(args) + " => " + result, OK: ok,
	})
}

// count reports a command's outcome by its table name only; cmd nil is a
// line that named no command.
func (s *Session) count(cmd *Command, result string) {
	if s.sh.metrics == nil {
		return
	}
	name := "unknown"
	if cmd != nil {
		name = cmd.Name
	}
	s.sh.metrics.Command(name, result)
}

// quote joins args so that the audit line splits back into the same words.
func quote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
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
