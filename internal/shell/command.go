package shell

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lxcgate/lxcgate/internal/argv"
	"github.com/spf13/pflag"
)

// Command is the one declaration of a command: its name and aliases, its
// arguments and flags with their help, its gates and its handler. The help
// list, 'help NAME', 'NAME -h', parsing, the gates and Tab completion all
// read it; nothing about a command is written anywhere else.
type Command struct {
	Name    string
	Aliases []string
	Args    string // the positional arguments in the usage line: "NAME [SNAPSHOT]"
	MinArgs int    // positional arguments at least
	MaxArgs int    // at most; -1: any number
	Summary string // one line for the help list
	Help    string // more, for 'help NAME' and 'NAME -h'
	Flags   []Flag // -h/--help is every command's and is not listed here

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
}

// flags are the command's flags that a caller sees: admin-only ones only
// for admins, and -h last.
func (cmd *Command) flags(admin bool) []Flag {
	var out []Flag
	for _, f := range cmd.Flags {
		if !f.Admin || admin {
			out = append(out, f)
		}
	}
	return append(out, helpFlag)
}

// flag returns the declared flag named name (long, or short with one
// letter), -h included.
func (cmd *Command) flag(name string) (Flag, bool) {
	for _, f := range append(cmd.Flags, helpFlag) {
		if f.Name == name || (f.Short != "" && f.Short == name) {
			return f, true
		}
	}
	return Flag{}, false
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
	writeFlagTable(w, cmd.flags(admin))
	if len(cmd.Aliases) > 0 {
		fmt.Fprintf(w, "\nalso: %s\n", strings.Join(cmd.Aliases, ", "))
	}
}

// writeFlagTable writes one line per flag: spellings, value, help.
func writeFlagTable(w io.Writer, flags []Flag) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range flags {
		fmt.Fprintf(tw, "  %s\t%s\n", flagSpelling(f.Short, f.Name, f.arg()), flagHelp(f))
	}
	tw.Flush()
}

// flagSpelling is "-f, --force" or "    --cpu N".
func flagSpelling(short, name, arg string) string {
	s := "    --" + name
	if short != "" {
		s = "-" + short + ", --" + name
	}
	if arg != "" {
		s += " " + arg
	}
	return s
}

func flagHelp(f Flag) string {
	h := f.Help
	if f.Default != "" && f.Kind != Bool {
		h += " (default " + f.Default + ")"
	}
	return h
}

// WriteFlagTable writes the help table of a pflag set defined with
// DefineFlags, in the order defined: the host command line's help.
func WriteFlagTable(w io.Writer, fs *pflag.FlagSet) {
	fs.SortFlags = false
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		h := f.Usage
		if f.DefValue != "" && f.NoOptDefVal == "" {
			h += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", flagSpelling(f.Shorthand, f.Name, FlagArg(f)), h)
	})
	tw.Flush()
}

// FlagArg is the placeholder of a pflag flag's value in help ("" when it
// takes none): as DefineFlags recorded it, else its type in capitals.
func FlagArg(f *pflag.Flag) string {
	if a := f.Annotations[annotationArg]; len(a) == 1 {
		return a[0]
	}
	if f.NoOptDefVal != "" {
		return ""
	}
	return strings.ToUpper(f.Value.Type())
}

// invocation is one run of a command: its flags parsed, and the
// positional arguments.
type invocation struct {
	cmd   *Command
	flags Values
	args  []string
}

// parse builds a fresh flag set from the declaration and parses args;
// every flag is defined, admin-only ones included, so that the gate can
// name a refused flag rather than call it unknown.
func (cmd *Command) parse(args []string) (*invocation, error) {
	fs := argv.NewFlagSet(cmd.Name)
	v := DefineFlags(fs, append(cmd.Flags[:len(cmd.Flags):len(cmd.Flags)], helpFlag))
	pos, err := argv.Parse(fs, args)
	if err != nil {
		return nil, usageError{err}
	}
	return &invocation{cmd: cmd, flags: v, args: pos}, nil
}

// checkCount checks the number of positional arguments.
func (inv *invocation) checkCount() error {
	n, cmd := len(inv.args), inv.cmd
	if cmd.MaxArgs >= 0 && n > cmd.MaxArgs {
		return Usagef("too many arguments")
	}
	if n < cmd.MinArgs {
		return Usagef("missing arguments")
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
	for _, f := range cmd.Flags {
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
