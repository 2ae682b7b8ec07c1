// Command lxcgate is the SSH gateway to a lab's LXD containers. This file
// builds the host command line (cobra) and wires the packages together.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// app is what every host command gets.
type app struct {
	args   []string   // as typed, for errors that quote a flag
	global cli.Values // --config, --data
	cfg    config.Config
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	level  slog.LevelVar // serve's log level, which SIGHUP may change
}

// Exit statuses: 2 is bad usage (unknown command or flag, wrong
// arguments), 1 any other failure.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// errUsage asks for the usage on stderr with status 2 and no message.
var errUsage = cli.Usage(errors.New(""))

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{args: args, stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.commands()
	args, err := cli.Normalize(allFlags(root), args)
	if err == nil {
		root.SetArgs(args)
		_, err = root.ExecuteC()
	}
	var ue cli.UsageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		writeOverview(stderr, root)
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "lxcgate: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "lxcgate: %v%s\n", err, hint(err))
		return exitFail
	}
}

// hint names the host command that helps after a domain error; the
// packages below say only what went wrong.
func hint(err error) string {
	switch {
	case errors.Is(err, users.ErrKeyNotFound):
		return " (see 'lxcgate user key list')"
	case errors.Is(err, users.ErrNotFound):
		return " (see 'lxcgate user list')"
	}
	return ""
}

// commands is the whole host command line: one declaration per command,
// from which parsing, help and completion come.
func (a *app) commands() *cobra.Command {
	root := &cobra.Command{
		Use:   "lxcgate",
		Short: "the SSH gateway to a lab's LXD containers",
		Long:  "The data directory (default ./data, env LXCGATE_DATA) holds the database and the host key.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unknown command %q; run 'lxcgate help'", args[0])
			}
			return nil
		},
		RunE:              func(*cobra.Command, []string) error { return errUsage },
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.load() },
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	a.global = cli.DefineFlags(root.PersistentFlags(), globalFlags)
	cobra.EnableCommandSorting = false // help lists them as declared
	root.AddCommand(a.serveCmd(), a.userCmd(), a.portmapCmd(), a.doctorCmd(), a.lxdCmd(), a.backupCmd(), a.migrateCmd(), a.configCmd(), a.versionCmd(), a.completionCmd(root))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return cli.Usage(cli.FlagError(err, a.args)) })
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { writeHelp(a.stdout, c) })
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	walk(root, func(c *cobra.Command) {
		c.Flags().SortFlags, c.PersistentFlags().SortFlags = false, false // in declared order
		cli.Once(c.Flags())
		cli.Once(c.PersistentFlags())
	})
	return root
}

// globalFlags are every command's; they may stand anywhere.
var globalFlags = []cli.Flag{
	{Name: "config", Kind: cli.String, Arg: "FILE", Help: "the configuration file (env LXCGATE_CONFIG)"},
	{Name: "data", Kind: cli.String, Arg: "DIR", Help: "the data directory (env LXCGATE_DATA, default ./data)"},
	{Name: "help", Short: "h", Help: "show this help"},
}

// load reads the configuration: the file, the environment, then --data.
func (a *app) load() error {
	cfg, err := a.read()
	if err != nil {
		return err
	}
	a.cfg = cfg
	return nil
}

func (a *app) read() (config.Config, error) {
	file := a.global.String("config")
	if !a.global.Changed("config") {
		file = os.Getenv("LXCGATE_CONFIG")
	}
	cfg, err := config.Load(file, os.Getenv)
	if err != nil {
		return cfg, err
	}
	if d := a.global.String("data"); d != "" {
		cfg.Data = d
	}
	return cfg, nil
}

// walk calls f for c and every command below it.
func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// noArgs, exactArgs: argument checks whose errors are usage errors.
func noArgs(use string) cobra.PositionalArgs { return exactArgs(0, use) }

func exactArgs(n int, use string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return cli.Usagef("usage: %s", use)
		}
		return nil
	}
}

// group is a command whose work is its sub-commands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("usage: %s %s", c.CommandPath(), subNames(c))
			}
			return cli.Usagef("unknown %s command %q; see 'lxcgate help %s'", c.Name(), args[0], c.Name())
		},
	}
	c.AddCommand(subs...)
	return c
}

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use: "migrate", Short: "apply pending migrations, print the schema version", Args: noArgs("lxcgate migrate"),
		Long: "Brings the database to the newest schema (serve does too) and prints its version.",
		RunE: func(*cobra.Command, []string) error {
			db, err := a.open()
			if err != nil {
				return err
			}
			defer db.Close()
			v, err := store.Version(context.Background(), db)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "schema version %d\n", v)
			return nil
		},
	}
}

func (a *app) configCmd() *cobra.Command {
	var v cli.Values
	c := &cobra.Command{
		Use: "config", Short: "print the effective (or a commented default) configuration", Args: noArgs("lxcgate config [--default]"),
		Long: "Prints every key with its effective value: the file, then the environment, then flags.",
		RunE: func(*cobra.Command, []string) error {
			if v.Bool("default") {
				fmt.Fprint(a.stdout, config.DefaultFile())
				return nil
			}
			if err := a.cfg.Validate(); err != nil {
				return err
			}
			s, err := a.cfg.Encode()
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, s)
			return nil
		},
	}
	v = cli.DefineFlags(c.Flags(), []cli.Flag{{Name: "default", Help: "print every key with its default and an explanation instead"}})
	return c
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "print the version", Args: noArgs("lxcgate version"),
		Long: "The version, the newest database schema it knows, and the Go release it was built with.",
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(a.stdout, "lxcgate %s (schema %d, %s)\n", buildVersion(), store.Latest(), goVersion())
			return nil
		},
	}
}

func (a *app) completionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use: "completion bash|zsh|fish", Short: "print a shell completion script", ValidArgs: []string{"bash", "zsh", "fish"},
		Long: "Commands and flags complete on Tab once the script is loaded, e.g.\n" +
			"  source <(lxcgate completion bash)",
		Args:              exactArgs(1, "lxcgate completion bash|zsh|fish"),
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil }, // needs no configuration
		RunE: func(_ *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			case "fish":
				return root.GenFishCompletion(a.stdout, true)
			}
			return cli.Usagef("usage: lxcgate completion bash|zsh|fish")
		},
	}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "go"
}

// open validates the configuration, creates the data directory and returns
// the migrated database.
func (a *app) open() (*sql.DB, error) {
	if err := a.cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(a.cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	db, err := store.Open(filepath.Join(a.cfg.Data, "lxcgate.db"))
	if err != nil {
		return nil, err
	}
	if _, err := store.Migrate(context.Background(), db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	return newLeveledLogger(c, w, new(slog.LevelVar))
}

// newLeveledLogger logs at level, which starts at c's and may change later
// (SIGHUP).
func newLeveledLogger(c config.Log, w io.Writer, level *slog.LevelVar) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(c.Level))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
