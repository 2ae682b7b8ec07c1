package main

import (
	"context"
	"database/sql"
	"io"

	"github.com/spf13/cobra"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/gateway"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/users"
)

var passwordStdinFlag = cli.Flag{Name: "password-stdin", Help: "read the password from the first line of stdin instead of asking"}

// userCmd is 'lxcgate user': the host's usage and help for each verb, and
// the work done by the shell's user command (see runShellUser). quota is
// the host's own.
func (a *app) userCmd() *cobra.Command {
	return group("user", "manage the gateway's users",
		a.userVerb(&cobra.Command{Use: "add NAME", Short: "add a user (prompts for the password on a terminal)",
			Long: "Without --password-stdin, asks for the password twice on a terminal, without echo.\n" +
				"With --key KEY or --key-stdin, makes a key-only user with those keys and no password\n" +
				"(password logins are refused until 'lxcgate user passwd NAME').\n" +
				"NAME: 1-32 lowercase letters, digits, '_' or '-', starting with a letter or '_'; not 'invite'.",
			Args: exactArgs(1, "lxcgate user add NAME [--admin] [--password-stdin | --key KEY | --key-stdin]")},
			cli.Flag{Name: "admin", Help: "give the user the admin role"}, passwordStdinFlag,
			cli.Flag{Name: "key", Kind: cli.String, Arg: "KEY", Help: "make a key-only user with this authorized_keys line"},
			cli.Flag{Name: "key-stdin", Help: "make a key-only user with the authorized_keys lines read from stdin"}),
		a.userVerb(&cobra.Command{Use: "list", Short: "list users", Args: noArgs("lxcgate user list [--format FORMAT] [--json]"),
			Long: "Name, role, status, whether a password is set, number of keys and when each user was added (UTC)."},
			cli.FormatFlags...),
		a.userVerb(&cobra.Command{Use: "del NAME", Short: "delete a user and their keys", Args: exactArgs(1, "lxcgate user del NAME"),
			Long: "Deletes the user and their keys; their containers stay in LXD."}),
		a.userVerb(&cobra.Command{Use: "passwd NAME", Short: "set a user's password", Args: exactArgs(1, "lxcgate user passwd NAME [--password-stdin]"),
			Long: "Without --password-stdin, asks for the new password twice on a terminal, without echo."}, passwordStdinFlag),
		a.userVerb(&cobra.Command{Use: "disable NAME", Short: "stop a user's logins", Args: exactArgs(1, "lxcgate user disable NAME"),
			Long: "Refuses the user's logins and ends their open sessions within about half a second."}),
		a.userVerb(&cobra.Command{Use: "enable NAME", Short: "allow a user's logins again", Args: exactArgs(1, "lxcgate user enable NAME"),
			Long: "Lets the user log in again."}),
		a.userVerb(&cobra.Command{Use: "role NAME admin|user", Short: "give a user the admin or the user role", Args: roleArgs,
			Long: "Changes the role at once, open sessions included; the last enabled admin keeps theirs."}),
		a.userVerb(&cobra.Command{Use: "invite NAME", Short: "print a one-time code with which NAME registers their key",
			Long: "Prints a one-time code and the command the member runs with it:\n" +
				"  ssh -p PORT invite@GATEWAY CODE < ~/.ssh/id_ed25519.pub\n" +
				"which registers their public key for NAME. A NAME that is no user yet is made key-only\n" +
				"(no password). A new invite replaces NAME's earlier unspent ones. Codes are kept hashed.",
			Args: exactArgs(1, "lxcgate user invite NAME [--expires DURATION] [--json]")},
			append([]cli.Flag{{Name: "expires", Kind: cli.String, Arg: "DURATION", Default: "24h", Help: "how long the code works (up to 30d)"}},
				cli.FormatFlags...)...),
		group("key", "manage a user's gateway keys",
			a.userVerb(&cobra.Command{Use: "add NAME", Short: "add authorized_keys lines read from stdin", Args: exactArgs(1, "lxcgate user key add NAME"),
				Long: "Reads one or more authorized_keys lines (at most 1 MiB) from stdin; a key belongs to one user only."}),
			a.userVerb(&cobra.Command{Use: "list NAME", Short: "list a user's keys", Args: exactArgs(1, "lxcgate user key list NAME [--format FORMAT] [--json]"),
				Long: "Fingerprint (as ssh-keygen -l prints it), type, comment and when each key was added (UTC)."},
				cli.FormatFlags...),
			a.userVerb(&cobra.Command{Use: "del NAME FINGERPRINT", Short: "remove a key (SHA256:...)", Args: exactArgs(2, "lxcgate user key del NAME FINGERPRINT"),
				Long: "Removes the user's key with this fingerprint, as 'user key list' shows it."})),
		a.userQuotaCmd(),
	)
}

// roleArgs checks 'user role NAME admin|user' before anything is opened.
func roleArgs(c *cobra.Command, args []string) error {
	if err := exactArgs(2, "lxcgate user role NAME admin|user")(c, args); err != nil {
		return err
	}
	if role := users.Role(args[1]); role != users.RoleAdmin && role != users.RoleUser {
		return cli.Usagef("usage: lxcgate user role NAME admin|user")
	}
	return nil
}

// userVerb gives c its flags and runs it through the shell's user command.
func (a *app) userVerb(c *cobra.Command, flags ...cli.Flag) *cobra.Command {
	cli.DefineFlags(c.Flags(), flags)
	c.RunE = func(c *cobra.Command, args []string) error { return a.runShellUser(c, args) }
	return c
}

// withUsers runs f on the migrated database's users.
func (a *app) withUsers(f func(ctx context.Context, db *sql.DB, st *users.Store) error) error {
	db, err := a.open()
	if err != nil {
		return err
	}
	defer db.Close()
	return f(context.Background(), db, users.New(db))
}

func (a *app) userQuotaCmd() *cobra.Command {
	var v cli.Values
	c := &cobra.Command{
		Use: "quota NAME", Short: "show or set a user's container quota", Args: exactArgs(1, "lxcgate user quota NAME [flags]"),
		Long: "Shows the user's limits beside their use; the flags given set those limits (the rest stay).",
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withUsers(func(ctx context.Context, db *sql.DB, _ *users.Store) error {
				cs, err := gateway.Service(db, a.cfg, gateway.NewLogger(a.cfg.Log, a.stderr))
				if err != nil {
					return err
				}
				if ch, ok := shell.QuotaChangeOf(v); ok {
					if _, err := cs.SetQuota(ctx, args[0], ch); err != nil {
						return err
					}
				}
				q, use, err := cs.Quota(ctx, args[0])
				if err != nil {
					return err
				}
				f, err := v.Format()
				if err != nil {
					return cli.Usage(err)
				}
				if f != cli.FormatTable {
					return cli.Render(a.stdout, f, shell.QuotaView(args[0], q, use))
				}
				return shell.PrintQuota(a.stdout, args[0], q, use)
			})
		},
	}
	v = cli.DefineFlags(c.Flags(), append(shell.QuotaFlags[:len(shell.QuotaFlags):len(shell.QuotaFlags)], cli.FormatFlags...))
	return c
}

// emit writes a listing as a table or in the format asked for.
func (a *app) emit(v cli.Values, data any, table func(w io.Writer)) error {
	f, err := v.Format()
	if err != nil {
		return cli.Usage(err)
	}
	if f != cli.FormatTable {
		return cli.Render(a.stdout, f, data)
	}
	tw := newTable(a.stdout)
	table(tw)
	return tw.Flush()
}
