// Command lxcgate is the SSH gateway to a lab's LXD containers. This file
// only parses the host command line and wires the packages together.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: lxcgate [--config FILE] [--data DIR] COMMAND

commands:
  serve [--listen ADDR]                       run the gateway (default listen :2222)
  user add NAME [--admin] [--password-stdin]  add a user (prompts for the password on a terminal)
  user list [--json]                          list users
  user del NAME                               delete a user and their keys
  user passwd NAME [--password-stdin]         set a user's password
  user disable NAME | user enable NAME        stop or allow a user's logins
  user key add NAME                           add authorized_keys lines read from stdin
  user key list NAME [--json]                 list a user's keys
  user key del NAME FINGERPRINT               remove a key (SHA256:...)
  user quota NAME [--containers N] [--cpu N] [--memory SIZE] [--disk SIZE] [--gpus N] [--ports N] [--snapshots N]
                                              show or set a user's container quota
  portmap status                              print desired versus actual port mappings
  portmap flush                               remove lxcgate's iptables chains (for an uninstall)
  migrate                                     apply pending migrations, print the schema version
  config [--default]                          print the effective (or a commented default) configuration
  version                                     print the version

The data directory (default ./data, env LXCGATE_DATA) holds the database and the host key.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// app is what every host command gets.
type app struct {
	cfg    config.Config
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lxcgate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgFile := fs.String("config", os.Getenv("LXCGATE_CONFIG"), "")
	data := fs.String("data", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "lxcgate: %v\n%s", err, usage)
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cfg, err := config.Load(*cfgFile, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "lxcgate: %v\n", err)
		return 1
	}
	if *data != "" {
		cfg.Data = *data
	}
	a := &app{cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr}
	err = a.dispatch(rest[0], rest[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "lxcgate: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "lxcgate: %v\n", err)
		return 1
	}
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func (a *app) dispatch(cmd string, args []string) error {
	switch cmd {
	case "serve":
		return a.serve(args)
	case "user":
		return a.user(args)
	case "migrate":
		return a.migrate(args)
	case "portmap":
		return a.portmap(args)
	case "config":
		return a.config(args)
	case "version":
		fmt.Fprintf(a.stdout, "lxcgate %s (schema %d, %s)\n", buildVersion(), store.Latest(), goVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, usage)
		return nil
	}
	return usagef("unknown command %q; run 'lxcgate help'", cmd)
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

func (a *app) migrate(args []string) error {
	if len(args) > 0 {
		return usagef("usage: lxcgate migrate")
	}
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
}

func (a *app) config(args []string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := fs.Bool("default", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usagef("usage: lxcgate config [--default]")
	}
	if *def {
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
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
