package shell

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/users"
)

// runLine runs one command line and returns its exit status. A line goes
// through four steps, each a method: runLine splits it, runArgs finds the
// command, gates and parses it, runParsed gives it a context and a Ctx,
// runGuarded turns a panic into an error, and report writes the outcome
// (message, audit row, metric) and returns the exit status.
func (s *Session) runLine(line string) int {
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
	return s.runArgs(args)
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

func (s *Session) runArgs(args []string) int {
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
		err = s.runParsed(inv)
	}
	return s.report(cmd, args, err)
}

// refuse answers a command, flag or argument its gate refused. Saying why
// is kinder than "unknown command", and reveals nothing secret.
func (s *Session) refuse(cmd *Command, args []string, why string) int {
	fmt.Fprintf(s.errw, "error: %s %s\n", cmd.Name, why)
	s.record(redact(cmd, args), false, "refused: "+why)
	s.count(cmd, "refused")
	return exitFail
}

// runParsed runs a parsed command under its own context.
func (s *Session) runParsed(inv *invocation) error {
	ctx, cancel := s.con.commandContext(s.ctx)
	defer cancel()
	if s.io.Busy != nil {
		s.io.Busy(true)
		defer s.io.Busy(false)
	}
	c := &Ctx{ctx: ctx, s: s, sh: s.sh, Out: s.out, Err: s.errw, User: s.user, Remote: s.io.Remote, Method: s.method,
		Interactive: s.io.PTY, Flags: inv.flags}
	s.note = ""
	err := s.runGuarded(inv.cmd, c, inv.args)
	if errors.Is(err, errNoTerminal) {
		// In a script the next line is likely the secret itself: stop
		// before it runs as a command (and lands in the audit).
		s.end()
	}
	return err
}

// report reports a command's outcome and returns its exit status.
func (s *Session) report(cmd *Command, args []string, err error) int {
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

// runGuarded runs a command, turning a panic into an error: one broken command
// must not end the session, let alone the server.
func (s *Session) runGuarded(cmd *Command, c *Ctx, args []string) (err error) {
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
