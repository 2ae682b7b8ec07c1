package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Ctx is what a running command sees.
type Ctx struct {
	ctx         context.Context // read through Context()
	s           *Session        // the console, and the session help, login and exit act on
	sh          *Shell          // the services and settings commands use
	Out         io.Writer       // data
	Err         io.Writer       // progress and messages
	User        users.User
	Remote      string     // the client's address
	Method      string     // how the session authenticated
	Interactive bool       // a person at a terminal
	Flags       cli.Values // this run's flags, as the command declares them
}

// Note adds a line to the command's audit row when it succeeds (where a
// new container was placed, and why).
func (c *Ctx) Note(s string) { c.s.note = s }

// Context is the command's context: cancelled by Ctrl-C on a terminal and
// when the connection drops.
func (c *Ctx) Context() context.Context { return c.ctx }

// errNoTerminal refuses a secret prompt without a terminal; a script ends
// there (see Session.runParsed).
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

// confirm asks the caller to type name before something that loses data
// (prompt says what; lost says it in a script's refusal; nothing is what
// a mismatch leaves undone). Without a terminal, --yes stands for it.
func (c *Ctx) confirm(verb, name, prompt, lost, nothing string) error {
	if c.Flags.Bool("yes") {
		return nil
	}
	if !c.Interactive {
		return fmt.Errorf("%s %s: add --yes to confirm (%s)", verb, name, lost)
	}
	typed, err := c.ReadLine(prompt + " Type its name to confirm: ")
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	if typed != name {
		return fmt.Errorf("%s %s: the name did not match; nothing %s", verb, name, nothing)
	}
	return nil
}

// Table returns a tabwriter on Out; call Flush when done.
func (c *Ctx) Table() *tabwriter.Writer { return tabwriter.NewWriter(c.Out, 0, 0, 2, ' ', 0) }

// Emit writes v in the format the caller asked for: table calls the
// command's own human form, the others encode v (JSON keys as the types
// declare them).
func (c *Ctx) Emit(v any, table func() error) error {
	f, err := c.Flags.Format()
	if err != nil {
		return cli.Usage(err)
	}
	if f == cli.FormatTable {
		return table()
	}
	return cli.Render(c.Out, f, v)
}

// progress shows operation progress: one live line on a terminal, plain
// lines otherwise.
type progress struct {
	c     *Ctx
	shown bool
}

func (c *Ctx) progress() *progress { return &progress{c: c} }

func (p *progress) line(s string) {
	if p.c.Interactive {
		fmt.Fprintf(p.c.Err, "\r\x1b[K%s", s)
		p.shown = true
		return
	}
	fmt.Fprintln(p.c.Err, s)
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.c.Err, "\r\x1b[K")
	}
}
