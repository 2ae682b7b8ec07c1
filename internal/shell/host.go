package shell

import (
	"context"
	"fmt"
	"strings"

	"github.com/lxcgate/lxcgate/internal/users"
)

// HostAdmin is who the host's 'lxcgate user' runs the shell's commands as:
// an admin no login can be (the name is not a valid user name).
var HostAdmin = users.User{Name: "(host)", Role: users.RoleAdmin}

// Host is what the host command line brings to a command it runs through
// the shell's table.
type Host struct {
	// AskSecrets asks each prompt in turn on the host's terminal, echo off
	// from the first prompt to the last answer; it says why it cannot (no
	// terminal). Commands call it for new passwords not read from stdin.
	AskSecrets func(prompts ...string) ([]string, error)
}

// Exec runs one command, given as words, as u, the way script mode runs a
// line (data on sio.Stdout, messages on sio.Stderr), and returns its error
// for the caller to report: the host's 'lxcgate user' runs the shell's user
// command with it, so that both do and say the same. The host writes
// confirmations in its own style, lower case and without a full stop, and
// its own errors; nothing goes to the audit trail, as from the host before.
func (sh *Shell) Exec(ctx context.Context, sio IO, u users.User, host Host, args []string) error {
	s := &Session{sh: sh, io: sio, user: u, method: sio.Method, ctx: ctx,
		con: newPipeConsole(sio.Stdin, sio.Stderr), out: sio.Stdout, errw: sio.Stderr, host: &host}
	cmd := s.lookup(args[0])
	if cmd == nil {
		return fmt.Errorf("unknown command %q", args[0])
	}
	if why := s.gate(cmd, nil); why != "" {
		return fmt.Errorf("%s %s", cmd.Name, why)
	}
	inv, err := cmd.parse(args[1:])
	if err != nil {
		return err
	}
	if why := s.gate(cmd, inv); why != "" {
		return fmt.Errorf("%s %s", cmd.Name, why)
	}
	if err := inv.checkCount(); err != nil {
		return err
	}
	return s.runParsed(inv)
}

// say writes a confirmation on Err: a sentence in the shell, and in the
// host command line's style there.
func (c *Ctx) say(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if c.s != nil && c.s.host != nil && msg != "" {
		msg = strings.ToLower(msg[:1]) + strings.TrimSuffix(msg[1:], ".")
	}
	fmt.Fprintln(c.Err, msg)
}

// hostSecrets asks for new secrets on the host's terminal; ok is false
// outside the host command line.
func (c *Ctx) hostSecrets(prompts ...string) (answers []string, ok bool, err error) {
	if c.s == nil || c.s.host == nil || c.s.host.AskSecrets == nil {
		return nil, false, nil
	}
	answers, err = c.s.host.AskSecrets(prompts...)
	return answers, true, err
}
