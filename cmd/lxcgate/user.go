package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lxcgate/lxcgate/internal/gateway"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

var passwordStdinFlag = shell.Flag{Name: "password-stdin", Help: "read the password from the first line of stdin instead of asking"}

func (a *app) userCmd() *cobra.Command {
	return group("user", "manage the gateway's users",
		a.userAddCmd(), a.userListCmd(),
		a.userSimpleCmd("del", "delete a user and their keys", "Deletes the user and their keys; their containers stay in LXD.",
			func(ctx context.Context, st *users.Store, name string) error {
				if err := st.Delete(ctx, name); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "deleted %s\n", name)
				return nil
			}),
		a.userPasswdCmd(),
		a.userEnableCmd("disable", true), a.userEnableCmd("enable", false), a.userRoleCmd(),
		group("key", "manage a user's gateway keys", a.keyAddCmd(), a.keyListCmd(), a.keyDelCmd()),
		a.userQuotaCmd(),
	)
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

// userSimpleCmd is a user command that takes just the user's name.
func (a *app) userSimpleCmd(name, short, long string, f func(ctx context.Context, st *users.Store, name string) error) *cobra.Command {
	return &cobra.Command{
		Use: name + " NAME", Short: short, Long: long, Args: exactArgs(1, "lxcgate user "+name+" NAME"),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withUsers(func(ctx context.Context, _ *sql.DB, st *users.Store) error { return f(ctx, st, args[0]) })
		},
	}
}

func (a *app) userEnableCmd(verb string, disable bool) *cobra.Command {
	short, long := "allow a user's logins again", "Lets the user log in again."
	if disable {
		short, long = "stop a user's logins", "Refuses the user's logins and ends their open sessions within about half a second."
	}
	return a.userSimpleCmd(verb, short, long, func(ctx context.Context, st *users.Store, name string) error {
		if err := st.SetDisabled(ctx, name, disable); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "%sd %s\n", verb, name)
		return nil
	})
}

func (a *app) userRoleCmd() *cobra.Command {
	return &cobra.Command{
		Use: "role NAME admin|user", Short: "give a user the admin or the user role", Args: exactArgs(2, "lxcgate user role NAME admin|user"),
		Long: "Changes the role at once, open sessions included; the last enabled admin keeps theirs.",
		RunE: func(_ *cobra.Command, args []string) error {
			role := users.Role(args[1])
			if role != users.RoleAdmin && role != users.RoleUser {
				return usagef("usage: lxcgate user role NAME admin|user")
			}
			return a.withUsers(func(ctx context.Context, _ *sql.DB, st *users.Store) error {
				if err := st.SetRole(ctx, args[0], role); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "%s is now %s\n", args[0], role)
				return nil
			})
		},
	}
}

func (a *app) userAddCmd() *cobra.Command {
	var v shell.Values
	c := &cobra.Command{
		Use: "add NAME", Short: "add a user (prompts for the password on a terminal)",
		Long: "Without --password-stdin, asks for the password twice on a terminal, without echo.\n" +
			"NAME: 1-32 lowercase letters, digits, '_' or '-', starting with a letter or '_'.",
		Args: exactArgs(1, "lxcgate user add NAME [--admin] [--password-stdin]"),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := users.ValidName(args[0]); err != nil {
				return err
			}
			return a.withUsers(func(ctx context.Context, _ *sql.DB, st *users.Store) error {
				pw, err := a.readNewPassword(v.Bool("password-stdin"))
				if err != nil {
					return err
				}
				role := users.RoleUser
				if v.Bool("admin") {
					role = users.RoleAdmin
				}
				u, err := st.Add(ctx, args[0], role, pw)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "added %s (%s)\n", u.Name, u.Role)
				return nil
			})
		},
	}
	v = shell.DefineFlags(c.Flags(), []shell.Flag{{Name: "admin", Help: "give the user the admin role"}, passwordStdinFlag})
	return c
}

func (a *app) userPasswdCmd() *cobra.Command {
	var v shell.Values
	c := &cobra.Command{
		Use: "passwd NAME", Short: "set a user's password",
		Long: "Without --password-stdin, asks for the new password twice on a terminal, without echo.",
		Args: exactArgs(1, "lxcgate user passwd NAME [--password-stdin]"),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withUsers(func(ctx context.Context, _ *sql.DB, st *users.Store) error {
				if _, err := st.Get(ctx, args[0]); err != nil {
					return err
				}
				pw, err := a.readNewPassword(v.Bool("password-stdin"))
				if err != nil {
					return err
				}
				if err := st.SetPassword(ctx, args[0], pw); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "password of %s changed\n", args[0])
				return nil
			})
		},
	}
	v = shell.DefineFlags(c.Flags(), []shell.Flag{passwordStdinFlag})
	return c
}

func (a *app) userListCmd() *cobra.Command {
	var v shell.Values
	c := &cobra.Command{
		Use: "list", Short: "list users", Args: noArgs("lxcgate user list [--format FORMAT] [--json]"),
		Long: "Name, role, status, whether a password is set, number of keys and when each user was added (UTC).",
		RunE: func(*cobra.Command, []string) error {
			return a.withUsers(func(ctx context.Context, _ *sql.DB, st *users.Store) error {
				list, err := st.List(ctx)
				if err != nil {
					return err
				}
				list = shell.UsersUTC(list)
				return a.emit(v, list, func(tw io.Writer) { shell.WriteUsers(tw, list) })
			})
		},
	}
	v = shell.DefineFlags(c.Flags(), shell.FormatFlags)
	return c
}

func (a *app) keyAddCmd() *cobra.Command {
	return &cobra.Command{
		Use: "add NAME", Short: "add authorized_keys lines read from stdin", Args: exactArgs(1, "lxcgate user key add NAME"),
		Long: "Reads one or more authorized_keys lines (at most 1 MiB) from stdin; a key belongs to one user only.",
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withUsers(func(ctx context.Context, _ *sql.DB, st *users.Store) error {
				data, err := io.ReadAll(io.LimitReader(a.stdin, 1<<20))
				if err != nil {
					return err
				}
				added, err := st.AddKeys(ctx, args[0], data)
				if err != nil {
					return err
				}
				for _, k := range added {
					fmt.Fprintf(a.stderr, "added %s %s %s\n", k.Fingerprint, k.Type, k.Comment)
				}
				return nil
			})
		},
	}
}

func (a *app) keyListCmd() *cobra.Command {
	var v shell.Values
	c := &cobra.Command{
		Use: "list NAME", Short: "list a user's keys", Args: exactArgs(1, "lxcgate user key list NAME [--format FORMAT] [--json]"),
		Long: "Fingerprint (as ssh-keygen -l prints it), type, comment and when each key was added (UTC).",
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withUsers(func(ctx context.Context, _ *sql.DB, st *users.Store) error {
				keys, err := st.Keys(ctx, args[0])
				if err != nil {
					return err
				}
				if keys == nil {
					keys = []users.Key{}
				}
				for i := range keys {
					keys[i].Added = keys[i].Added.UTC()
				}
				return a.emit(v, keys, func(tw io.Writer) {
					fmt.Fprintln(tw, "FINGERPRINT\tTYPE\tCOMMENT\tADDED")
					for _, k := range keys {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Fingerprint, k.Type, k.Comment, k.Added.Format(shell.TimeFormat))
					}
				})
			})
		},
	}
	v = shell.DefineFlags(c.Flags(), shell.FormatFlags)
	return c
}

func (a *app) keyDelCmd() *cobra.Command {
	return &cobra.Command{
		Use: "del NAME FINGERPRINT", Short: "remove a key (SHA256:...)", Args: exactArgs(2, "lxcgate user key del NAME FINGERPRINT"),
		Long: "Removes the user's key with this fingerprint, as 'user key list' shows it.",
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withUsers(func(ctx context.Context, _ *sql.DB, st *users.Store) error {
				if err := st.DeleteKey(ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "deleted key %s of %s\n", args[1], args[0])
				return nil
			})
		},
	}
}

func (a *app) userQuotaCmd() *cobra.Command {
	var v shell.Values
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
					return usageError{err}
				}
				if f != shell.FormatTable {
					return shell.Render(a.stdout, f, shell.QuotaView(args[0], q, use))
				}
				return shell.PrintQuota(a.stdout, args[0], q, use)
			})
		},
	}
	v = shell.DefineFlags(c.Flags(), append(shell.QuotaFlags[:len(shell.QuotaFlags):len(shell.QuotaFlags)], shell.FormatFlags...))
	return c
}

// emit writes a listing as a table or in the format asked for.
func (a *app) emit(v shell.Values, data any, table func(w io.Writer)) error {
	f, err := v.Format()
	if err != nil {
		return usageError{err}
	}
	if f != shell.FormatTable {
		return shell.Render(a.stdout, f, data)
	}
	tw := newTable(a.stdout)
	table(tw)
	return tw.Flush()
}

// readNewPassword reads a password from the first line of stdin, or asks
// twice without echo on a terminal.
func (a *app) readNewPassword(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(a.stdin).ReadString('\n')
		if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
			return "", errors.New("no password on stdin")
		}
		pw := strings.TrimRight(line, "\r\n")
		return pw, users.CheckPasswordPolicy(pw)
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("stdin is not a terminal: pass --password-stdin and pipe the password")
	}
	answers, err := askSecrets(f, a.stderr, "Password: ", "Repeat password: ")
	if err != nil {
		return "", err
	}
	pw, again := answers[0], answers[1]
	if err := users.CheckPasswordPolicy(pw); err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords differ; nothing changed")
	}
	return pw, nil
}
