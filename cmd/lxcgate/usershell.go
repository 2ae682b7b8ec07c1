package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/lxcgate/lxcgate/internal/gateway"
	"github.com/lxcgate/lxcgate/internal/notify"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/users"
)

// runShellUser runs a 'lxcgate user' verb as the shell's user command, as
// the built-in host admin: the same checks, work and messages as over SSH.
// Cobra has checked the arguments and flags, and help is the host's own.
func (a *app) runShellUser(c *cobra.Command, args []string) error {
	return a.withUsers(func(ctx context.Context, db *sql.DB, st *users.Store) error {
		log := slog.New(slog.DiscardHandler)
		sh := shell.New(shell.Options{Admin: st, Log: log, Host: "localhost",
			Gateway: gateway.PublicSSH(a.cfg), Notices: notify.New(db, notify.Config{}, log)})
		sio := shell.IO{Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr, Method: "host"}
		return sh.Exec(ctx, sio, shell.HostAdmin, shell.Host{AskSecrets: a.askSecrets}, userWords(c, args))
	})
}

// userWords is the shell's command line for c: "user", the flags given,
// then the verb and its arguments after "--" (a NAME may start with '-').
func userWords(c *cobra.Command, args []string) []string {
	words := []string{"user"}
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		switch {
		case !f.Changed:
		case f.NoOptDefVal != "":
			words = append(words, "--"+f.Name)
		default:
			words = append(words, "--"+f.Name+"="+f.Value.String())
		}
	})
	path := strings.Fields(strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" user"))
	return append(append(append(words, "--"), path...), args...)
}

// askSecrets asks for new passwords on the terminal that stdin is.
func (a *app) askSecrets(prompts ...string) ([]string, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("stdin is not a terminal: pass --password-stdin and pipe the password")
	}
	return askSecrets(f, a.stderr, prompts...)
}
