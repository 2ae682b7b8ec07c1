package shell

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lxcgate/lxcgate/internal/argv"
	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Command is one entry of the command table.
type Command struct {
	Name    string
	Aliases []string
	Args    string // what follows the name in the usage line
	Summary string // one line for the help list
	Help    string // more, for help NAME
	Lobby   bool   // may run in the lobby
	Admin   bool   // admins only; checked at the one gate in Session.run
	Secret  bool   // arguments are kept out of the audit trail
	Run     func(c *Ctx, args []string) error
	// Complete lists candidates for the command's arguments (Tab).
	Complete func(c *Ctx) []string
}

// Usage is the command's usage line.
func (cmd *Command) Usage() string { return strings.TrimSpace(cmd.Name + " " + cmd.Args) }

// shortUsage keeps the positional arguments and folds the flags into
// "[flags]", so that the help list fits a terminal.
func (cmd *Command) shortUsage() string {
	var keep []string
	folded := false
	depth, group := 0, ""
	for _, a := range strings.Fields(cmd.Args) {
		group = strings.TrimSpace(group + " " + a)
		depth += strings.Count(a, "[") - strings.Count(a, "]")
		if depth > 0 {
			continue // a bracket group goes on
		}
		if strings.HasPrefix(group, "[-") {
			folded = true
		} else {
			keep = append(keep, group)
		}
		group = ""
	}
	if folded {
		keep = append(keep, "[flags]")
	}
	return strings.TrimSpace(cmd.Name + " " + strings.Join(keep, " "))
}

// Ctx is what a running command sees.
type Ctx struct {
	ctx         context.Context
	s           *Session
	Out         io.Writer // data
	Err         io.Writer // progress and messages
	User        users.User
	Interactive bool // a person at a terminal
}

// Context is the command's context: cancelled by Ctrl-C on a terminal and
// when the connection drops.
func (c *Ctx) Context() context.Context { return c.ctx }

// usageError marks bad arguments (exit status 2).
type usageError struct{ error }

// Usagef returns a usage error.
func Usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Flags returns a fresh flag set for one run of cmd.
func (c *Ctx) Flags(name string) *flag.FlagSet { return argv.NewFlagSet(name) }

// Parse parses flags anywhere in args and checks the positional count.
func (c *Ctx) Parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	pos, err := argv.Parse(fs, args)
	if err != nil {
		return nil, usageError{err}
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		if len(pos) > max && max >= 0 {
			return nil, Usagef("too many arguments")
		}
		return nil, Usagef("missing arguments")
	}
	return pos, nil
}

// errNoTerminal refuses a secret prompt without a terminal; a script ends
// there (see Session.run).
var errNoTerminal = errors.New("this needs a terminal to ask for the password without echo: use 'ssh -t', or pipe it with --stdin")

// noTerminal is errNoTerminal in a command's own words.
type noTerminal string

func (e noTerminal) Error() string        { return string(e) }
func (e noTerminal) Is(target error) bool { return target == errNoTerminal }

// ReadSecret asks for a secret without echo. Without a terminal the client
// would echo it, so it is refused unless the command was told to read its
// secrets from stdin (a pipe).
func (c *Ctx) ReadSecret(prompt string, fromStdin bool) (string, error) {
	if !c.Interactive && !fromStdin {
		return "", errNoTerminal
	}
	p := prompt
	if !c.Interactive {
		p = "" // a pipe gets no prompts mixed into its output
	}
	s, err := c.s.con.ReadPassword(p)
	if errors.Is(err, errInterrupt) {
		return "", errors.New("cancelled")
	}
	if err != nil {
		return "", errors.New("no input; cancelled")
	}
	return s, nil
}

// ReadLine asks for one line of input, echoed.
func (c *Ctx) ReadLine(prompt string) (string, error) {
	if !c.Interactive {
		prompt = ""
	}
	s, err := c.s.con.ReadLine(prompt)
	if errors.Is(err, errInterrupt) {
		return "", errors.New("cancelled")
	}
	if err != nil {
		return "", errors.New("no input; cancelled")
	}
	return strings.TrimSpace(s), nil
}

// JSON writes v as indented JSON to Out.
func (c *Ctx) JSON(v any) error {
	enc := json.NewEncoder(c.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Table returns a tabwriter on Out; call Flush when done.
func (c *Ctx) Table() *tabwriter.Writer { return tabwriter.NewWriter(c.Out, 0, 0, 2, ' ', 0) }

func builtins() []*Command {
	return []*Command{
		{Name: "help", Args: "[COMMAND]", Summary: "list commands, or explain one", Lobby: true, Run: runHelp},
		{Name: "whoami", Args: "[--json]", Summary: "show who you are logged in as", Run: runWhoami},
		{Name: "passwd", Args: "[--stdin]", Summary: "change your gateway password", Secret: true, Run: runPasswd,
			Help: "Asks for your current password (if you have one) and the new one twice, without echo.\n" +
				"With --stdin, reads the three lines from standard input instead (for scripts)."},
		{Name: "login", Args: "[USER] [--stdin]", Summary: "sign in as another user", Lobby: true, Secret: true, Run: runLogin,
			Help: "Asks for a user name (unless given) and a password without echo, then continues as that user.\n" +
				"With --stdin, reads them from standard input instead."},
		{Name: "exit", Aliases: []string{"logout", "quit"}, Summary: "end the session", Lobby: true, Run: runExit},
	}
}

func runHelp(c *Ctx, args []string) error {
	pos, err := c.Parse(c.Flags("help"), args, 0, 1)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		cmd := c.s.lookup(pos[0])
		if cmd == nil || !c.s.allowed(cmd) {
			msg := fmt.Sprintf("no command %q", pos[0])
			if near := c.s.closest(pos[0]); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			return errors.New(msg)
		}
		fmt.Fprintf(c.Out, "usage: %s\n\n%s\n", cmd.Usage(), cmd.Summary)
		if cmd.Help != "" {
			fmt.Fprintf(c.Out, "\n%s\n", cmd.Help)
		}
		if len(cmd.Aliases) > 0 {
			fmt.Fprintf(c.Out, "\nalso: %s\n", strings.Join(cmd.Aliases, ", "))
		}
		return nil
	}
	fmt.Fprintln(c.Out, "Commands:")
	tw := c.Table()
	for _, cmd := range c.s.visible() {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.shortUsage(), cmd.Summary)
	}
	tw.Flush()
	fmt.Fprintln(c.Out, "\nType 'help COMMAND' for more. The same commands run as 'ssh -p PORT USER@HOST COMMAND'.")
	return nil
}

func runWhoami(c *Ctx, args []string) error {
	fs := c.Flags("whoami")
	asJSON := fs.Bool("json", false, "")
	if _, err := c.Parse(fs, args, 0, 0); err != nil {
		return err
	}
	info := struct {
		Name   string `json:"name"`
		Role   string `json:"role"`
		Method string `json:"method"`
		Remote string `json:"remote"`
	}{c.User.Name, string(c.User.Role), c.s.method, c.s.io.Remote}
	if *asJSON {
		return c.JSON(info)
	}
	fmt.Fprintf(c.Out, "%s (%s), from %s by %s\n", info.Name, info.Role, auth.Host(info.Remote), info.Method)
	return nil
}

func runPasswd(c *Ctx, args []string) error {
	fs := c.Flags("passwd")
	stdin := fs.Bool("stdin", false, "")
	if _, err := c.Parse(fs, args, 0, 0); err != nil {
		return err
	}
	old := ""
	if c.User.HasPassword {
		var err error
		if old, err = c.ReadSecret("Current password: ", *stdin); err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
	}
	pw, err := c.ReadSecret("New password: ", *stdin)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	if err := users.CheckPasswordPolicy(pw); err != nil {
		return fmt.Errorf("passwd: %w; nothing changed", err)
	}
	again, err := c.ReadSecret("Repeat new password: ", *stdin)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	if pw != again {
		return errors.New("passwd: the new passwords differ; nothing changed")
	}
	err = c.s.sh.Users.ChangePassword(c.ctx, c.User.Name, old, pw, c.s.io.Remote)
	switch {
	case errors.Is(err, users.ErrAuth):
		return errors.New("passwd: current password is wrong; nothing changed")
	case errors.Is(err, auth.ErrLocked):
		return errors.New("passwd: too many failed attempts; try again later")
	case err != nil:
		return fmt.Errorf("passwd: %w", err)
	}
	c.User.HasPassword = true
	c.s.user.HasPassword = true
	fmt.Fprintln(c.Err, "Password changed.")
	return nil
}

func runLogin(c *Ctx, args []string) error {
	fs := c.Flags("login")
	stdin := fs.Bool("stdin", false, "")
	pos, err := c.Parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	name := ""
	if len(pos) == 1 {
		name = pos[0]
	} else {
		if !c.Interactive && !*stdin {
			return noTerminal("login: give the user name: 'login USER' (with ssh -t), or pipe name and password with --stdin")
		}
		if name, err = c.ReadLine("User: "); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	pw, err := c.ReadSecret("Password: ", *stdin)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	u, err := c.s.sh.Users.Password(c.ctx, name, pw, c.s.io.Remote)
	c.s.sh.Audit.Record(c.ctx, audit.Event{Kind: audit.KindLogin, User: audit.SafeName(name), Remote: c.s.io.Remote,
		Method: "login", Detail: reason(err), OK: err == nil})
	if err != nil {
		// One answer for every failure: nothing tells a wrong name from a
		// wrong password or a locked account.
		return errors.New("login: incorrect user name or password")
	}
	if err := c.s.become(u); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	fmt.Fprintf(c.Err, "Logged in as %s.\n", u.Name)
	return nil
}

func reason(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func runExit(c *Ctx, args []string) error {
	if _, err := c.Parse(c.Flags("exit"), args, 0, 0); err != nil {
		return err
	}
	c.s.mu.Lock()
	c.s.exit = true
	c.s.mu.Unlock()
	return nil
}
