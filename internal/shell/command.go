package shell

import (
	"fmt"
	"io"
	"strings"

	"github.com/lxcgate/lxcgate/internal/cli"
)

// Command is the one declaration of a command: its name and aliases, its
// arguments and flags with their help, its gates and its handler. The help
// list, 'help NAME', 'NAME -h', parsing, the gates and Tab completion all
// read it; nothing about a command is written anywhere else.
type Command struct {
	Name    string
	Aliases []string
	Args    string     // the positional arguments in the usage line: "NAME [SNAPSHOT]"
	MinArgs int        // positional arguments at least
	MaxArgs int        // at most; -1: any number
	Summary string     // one line for the help list
	Help    string     // more, for 'help NAME' and 'NAME -h'
	Flags   []cli.Flag // -h/--help is every command's and is not listed here

	Lobby     bool // may run in the lobby
	Admin     bool // admins only
	AdminArgs bool // positional arguments need the admin role, and only admins see them
	Secret    bool // arguments other than flags are kept out of the audit trail

	// Run does the work, given the positional arguments; the flags are in
	// c.Flags. Gates and argument counts were checked before.
	Run func(c *Ctx, args []string) error
	// Complete lists candidates for the next positional argument (Tab),
	// given those typed before it.
	Complete func(c *Ctx, args []string) []string

	// Subs are the command's verbs ('user add', 'token list'), each
	// declared as a command of its own: Name, Args, counts, Flags, Run and
	// Complete. The first positional argument picks one and the rest are
	// its arguments. The command keeps the gates, the audit and the help,
	// and parses the flags of all its verbs, so that a flag may stand
	// before the verb. A command with a Run of its own runs it when no
	// verb fits (snapshot NAME).
	Subs []*Command
	// NoVerb answers a first argument that names no verb; nil: "unknown
	// verb", and the verbs.
	NoVerb error
}

// flags are the command's flags that a caller sees: admin-only ones only
// for admins, and -h last.
func (cmd *Command) flags(admin bool) []cli.Flag {
	var out []cli.Flag
	for _, f := range cmd.allFlags() {
		if !f.Admin || admin {
			out = append(out, f)
		}
	}
	return append(out, cli.HelpFlag)
}

// flag returns the declared flag named name (long, or short with one
// letter), -h included.
func (cmd *Command) flag(name string) (cli.Flag, bool) {
	for _, f := range append(cmd.allFlags(), cli.HelpFlag) {
		if f.Name == name || (f.Short != "" && f.Short == name) {
			return f, true
		}
	}
	return cli.Flag{}, false
}

// usage is the usage line a caller sees; short folds the flags into
// "[flags]".
func (cmd *Command) usage(admin bool) string {
	words := []string{cmd.Name}
	if cmd.Args != "" && (!cmd.AdminArgs || admin) {
		words = append(words, cmd.Args)
	}
	if len(cmd.flags(admin)) > 1 {
		words = append(words, "[flags]")
	}
	return strings.Join(words, " ")
}

// Usage is the command's usage line as an admin sees it.
func (cmd *Command) Usage() string { return cmd.usage(true) }

// writeHelp writes what 'help NAME' and 'NAME -h' print.
func (cmd *Command) writeHelp(w io.Writer, admin bool) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", cmd.usage(admin), cmd.Summary)
	if cmd.Help != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.Help)
	}
	fmt.Fprintln(w, "\nflags:")
	cli.WriteFlags(w, cmd.flags(admin))
	if len(cmd.Aliases) > 0 {
		fmt.Fprintf(w, "\nalso: %s\n", strings.Join(cmd.Aliases, ", "))
	}
}

// invocation is one run of a command: its flags parsed, and the
// positional arguments.
type invocation struct {
	cmd   *Command
	flags cli.Values
	args  []string
}

// parse builds a fresh flag set from the declaration and parses args;
// every flag is defined, admin-only ones included, so that the gate can
// name a refused flag rather than call it unknown.
func (cmd *Command) parse(args []string) (*invocation, error) {
	fs := cli.NewFlagSet(cmd.Name)
	flags := cmd.allFlags()
	v := cli.DefineFlags(fs, append(flags[:len(flags):len(flags)], cli.HelpFlag))
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return nil, cli.Usage(err)
	}
	return &invocation{cmd: cmd, flags: v, args: pos}, nil
}

// checkCount checks the number of positional arguments.
func (inv *invocation) checkCount() error {
	n, cmd := len(inv.args), inv.cmd
	if cmd.MaxArgs >= 0 && n > cmd.MaxArgs {
		return cli.Usagef("too many arguments")
	}
	if n < cmd.MinArgs {
		return cli.Usagef("missing arguments")
	}
	return nil
}

// gate is the one place where the lobby and the admin role are checked:
// the command itself (inv nil, before its flags are parsed), then its
// admin-only flags and arguments. It returns why the caller may not run
// it, or "".
func (s *Session) gate(cmd *Command, inv *invocation) string {
	if s.lobby && !cmd.Lobby {
		return "is not available in the lobby; type 'login' first"
	}
	if s.user.IsAdmin() {
		return ""
	}
	if cmd.Admin {
		return "needs the admin role"
	}
	if inv == nil {
		return ""
	}
	for _, f := range cmd.allFlags() {
		if f.Admin && inv.flags.Changed(f.Name) {
			return fmt.Sprintf("--%s needs the admin role", f.Name)
		}
	}
	if cmd.AdminArgs && len(inv.args) > 0 {
		return fmt.Sprintf("%s needs the admin role; '%s' alone is for yourself", strings.Trim(cmd.Args, "[]"), cmd.Name)
	}
	return ""
}

// allowed reports whether the session may run c at all.
func (s *Session) allowed(c *Command) bool { return s.gate(c, nil) == "" }
