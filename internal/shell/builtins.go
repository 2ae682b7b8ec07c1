package shell

import (
	"errors"
	"fmt"
	"io"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/users"
)

// stdinFlag reads secrets from standard input instead of a terminal.
var stdinFlag = cli.Flag{Name: "stdin", Help: "read the secrets from standard input, one a line (for scripts)"}

func builtins() []*Command {
	return []*Command{
		{Name: "help", Args: "[COMMAND]", MaxArgs: 1, Summary: "list commands, or explain one", Lobby: true, Run: runHelp,
			Help:     "help lists the commands you may run; help COMMAND (or COMMAND -h) explains one.",
			Complete: completeCommands},
		{Name: "whoami", Summary: "show who you are logged in as", Flags: cli.FormatFlags, Run: runWhoami,
			Help: "Your user name, role, where you connected from and how you logged in."},
		{Name: "passwd", Summary: "change your gateway password", Secret: true, Flags: []cli.Flag{stdinFlag}, Run: runPasswd,
			Help: "Asks for your current password (if you have one) and the new one twice, without echo.\n" +
				"With --stdin, reads the three lines from standard input instead (for scripts)."},
		{Name: "login", Args: "[USER]", MaxArgs: 1, Summary: "sign in as another user", Lobby: true, Secret: true,
			Flags: []cli.Flag{stdinFlag}, Run: runLogin,
			Help: "Asks for a user name (unless given) and a password without echo, then continues as that user.\n" +
				"With --stdin, reads them from standard input instead."},
		{Name: "exit", Aliases: []string{"logout", "quit"}, Summary: "end the session", Lobby: true, Run: runExit,
			Help: "Ends the session; so does Ctrl-D on an empty line."},
	}
}

func completeCommands(c *Ctx, args []string) []string {
	if len(args) > 0 {
		return nil
	}
	var out []string
	for _, cmd := range c.s.visible() {
		out = append(out, cmd.Name)
	}
	return out
}

func runHelp(c *Ctx, args []string) error {
	admin := c.User.IsAdmin()
	if len(args) == 1 {
		cmd := c.s.lookup(args[0])
		if cmd == nil || !c.s.allowed(cmd) {
			msg := fmt.Sprintf("no command %q", args[0])
			if near := c.s.closest(args[0]); near != "" {
				msg += fmt.Sprintf("; did you mean %q?", near)
			}
			return errors.New(msg)
		}
		cmd.writeHelp(c.Out, admin && !c.s.lobby)
		return nil
	}
	c.s.writeHelpList(c.Out)
	return nil
}

// writeHelpList writes the list of the commands this session may run.
func (s *Session) writeHelpList(w io.Writer) {
	admin := s.user.IsAdmin() && !s.lobby
	fmt.Fprintln(w, "Commands:")
	var rows []string
	width := 0
	for _, cmd := range s.visible() {
		u := cmd.usage(admin)
		rows = append(rows, u, cmd.Summary)
		width = max(width, len(u))
	}
	for i := 0; i < len(rows); i += 2 {
		fmt.Fprintf(w, "  %-*s  %s\n", width, rows[i], rows[i+1])
	}
	fmt.Fprintln(w, "\nType 'help COMMAND' for more. The same commands run as 'ssh -p PORT USER@HOST COMMAND'.")
}

func runWhoami(c *Ctx, _ []string) error {
	info := users.Whoami{Name: c.User.Name, Role: string(c.User.Role), Method: c.Method, Remote: c.Remote}
	return c.Emit(info, func() error {
		_, err := fmt.Fprintf(c.Out, "%s (%s), from %s by %s\n", info.Name, info.Role, auth.Host(info.Remote), info.Method)
		return err
	})
}

func runPasswd(c *Ctx, _ []string) error {
	stdin := c.Flags.Bool("stdin")
	old := ""
	if c.User.HasPassword {
		var err error
		if old, err = c.ReadSecret("Current password: ", stdin); err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
	}
	pw, err := c.newPassword("passwd", "New password: ", "Repeat new password: ", "the new passwords differ")
	if err != nil {
		return err
	}
	err = c.sh.Auth.ChangePassword(c.Context(), c.User.Name, old, pw, c.Remote)
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

// newPassword asks for a new password twice (or reads it twice with
// --stdin) and checks the policy between the two.
func (c *Ctx) newPassword(verb, prompt, again, differ string) (string, error) {
	stdin := c.Flags.Bool("stdin")
	pw, err := c.ReadSecret(prompt, stdin)
	if err != nil {
		return "", fmt.Errorf("%s: %w", verb, err)
	}
	if err := users.CheckPasswordPolicy(pw); err != nil {
		return "", fmt.Errorf("%s: %w; nothing changed", verb, err)
	}
	repeat, err := c.ReadSecret(again, stdin)
	if err != nil {
		return "", fmt.Errorf("%s: %w", verb, err)
	}
	if pw != repeat {
		return "", fmt.Errorf("%s: %s; nothing changed", verb, differ)
	}
	return pw, nil
}

func runLogin(c *Ctx, args []string) error {
	stdin := c.Flags.Bool("stdin")
	name := ""
	if len(args) == 1 {
		name = args[0]
	} else {
		if !c.Interactive && !stdin {
			return noTerminal("login: give the user name: 'login USER' (with ssh -t), or pipe name and password with --stdin")
		}
		var err error
		if name, err = c.ReadLine("User: "); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	pw, err := c.ReadSecret("Password: ", stdin)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	u, err := c.sh.Auth.Password(c.Context(), name, pw, c.Remote)
	c.sh.Audit.Record(c.Context(), audit.Event{Kind: audit.KindLogin, User: audit.SafeName(name), Remote: c.Remote,
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

func runExit(c *Ctx, _ []string) error {
	c.s.end()
	return nil
}
