package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/users"
)

// UserAdmin is what admins change users with over SSH: the same calls, and
// so the same checks, as the host's 'lxcgate user'. users.Store satisfies
// it.
type UserAdmin interface {
	Add(ctx context.Context, name string, role users.Role, password string) (users.User, error)
	Get(ctx context.Context, name string) (users.User, error)
	List(ctx context.Context) ([]users.User, error)
	Delete(ctx context.Context, name string) error
	SetDisabled(ctx context.Context, name string, disabled bool) error
	SetPassword(ctx context.Context, name, password string) error
	SetRole(ctx context.Context, name string, role users.Role) error
	AddKeys(ctx context.Context, name string, authorizedKeys []byte) ([]users.Key, error)
	Keys(ctx context.Context, name string) ([]users.Key, error)
	DeleteKey(ctx context.Context, name, fingerprint string) error
}

var _ UserAdmin = (*users.Store)(nil)

// userUsages are the user command's verbs, as its help and errors show them.
var userUsages = []struct{ verb, usage string }{
	{"add", "user add NAME [--admin] [--password-stdin]"},
	{"list", "user list [--format FORMAT] [--json]"},
	{"del", "user del NAME"},
	{"disable", "user disable NAME"},
	{"enable", "user enable NAME"},
	{"passwd", "user passwd NAME [--password-stdin]"},
	{"role", "user role NAME admin|user"},
	{"key", "user key add NAME [KEY] | user key list NAME | user key del NAME FINGERPRINT"},
}

func userCmds() []*Command {
	var help strings.Builder
	for _, u := range userUsages {
		help.WriteString("  " + u.usage + "\n")
	}
	help.WriteString("Passwords are asked twice without echo on a terminal (ssh -t), or read from the\n" +
		"first line of stdin with --password-stdin. 'user key add NAME' without KEY reads\n" +
		"authorized_keys lines from stdin. The last enabled admin cannot be demoted, disabled\n" +
		"or deleted, nor can a user who owns containers be deleted.")
	flags := append([]cli.Flag{
		{Name: "admin", Help: "with add: give the user the admin role"},
		{Name: "password-stdin", Help: "with add and passwd: read the password from the first line of stdin"},
	}, cli.FormatFlags...)
	return []*Command{{Name: "user", Args: "VERB [ARGS]", MinArgs: 1, MaxArgs: -1, Admin: true,
		Summary: "manage the gateway's users (add, list, del, disable, enable, passwd, role, key)",
		Help:    help.String(), Flags: flags, Run: runUser, Complete: completeUser}}
}

func completeUser(c *Ctx, args []string) []string {
	switch {
	case len(args) == 0:
		var out []string
		for _, u := range userUsages {
			out = append(out, u.verb)
		}
		return out
	case len(args) == 1 && args[0] == "key":
		return []string{"add", "list", "del"}
	case len(args) == 2 && args[0] == "role":
		return []string{string(users.RoleAdmin), string(users.RoleUser)}
	case (len(args) == 1 && args[0] != "add" && args[0] != "list") || (len(args) == 2 && args[0] == "key"):
		list, _ := c.sh.admin.List(c.ctx)
		var out []string
		for _, u := range list {
			out = append(out, u.Name)
		}
		return out
	}
	return nil
}

func userUsage(verb string) error {
	for _, u := range userUsages {
		if u.verb == verb {
			return cli.Usagef("usage: %s", u.usage)
		}
	}
	return cli.Usagef("unknown verb %q; use add, list, del, disable, enable, passwd, role or key", verb)
}

func runUser(c *Ctx, args []string) error {
	verb, rest := args[0], args[1:]
	ua := c.sh.admin
	one := len(rest) == 1
	switch {
	case verb == "add" && one:
		name := rest[0]
		if err := users.ValidName(name); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		if _, err := ua.Get(c.ctx, name); err == nil {
			return fmt.Errorf("user add: %s exists; nothing changed", name)
		}
		pw, err := c.adminPassword("user add")
		if err != nil {
			return err
		}
		role := users.RoleUser
		if c.Flags.Bool("admin") {
			role = users.RoleAdmin
		}
		u, err := ua.Add(c.ctx, name, role, pw)
		return c.done(wrapUser("add", err), "Added %s (%s).", u.Name, u.Role)
	case verb == "list" && len(rest) == 0:
		return c.userList()
	case verb == "del" && one:
		return c.done(wrapUser("del", ua.Delete(c.ctx, rest[0])), "Deleted %s; their containers, if any, stay in LXD.", rest[0])
	case (verb == "disable" || verb == "enable") && one:
		return c.done(wrapUser(verb, ua.SetDisabled(c.ctx, rest[0], verb == "disable")), "%sd %s.", capital(verb), rest[0])
	case verb == "passwd" && one:
		if _, err := ua.Get(c.ctx, rest[0]); err != nil {
			return wrapUser("passwd", err)
		}
		pw, err := c.adminPassword("user passwd")
		if err != nil {
			return err
		}
		return c.done(wrapUser("passwd", ua.SetPassword(c.ctx, rest[0], pw)), "Password of %s changed.", rest[0])
	case verb == "role" && len(rest) == 2:
		role := users.Role(rest[1])
		if role != users.RoleAdmin && role != users.RoleUser {
			return userUsage("role")
		}
		return c.done(wrapUser("role", ua.SetRole(c.ctx, rest[0], role)), "%s is now %s.", rest[0], role)
	case verb == "key" && len(rest) >= 2:
		return c.userKey(rest[0], rest[1], rest[2:])
	}
	return userUsage(verb)
}

func capital(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// wrapUser puts the verb before a store error, keeping it one line.
func wrapUser(verb string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("user %s: %w", verb, err)
}

func (c *Ctx) userList() error {
	list, err := c.sh.admin.List(c.ctx)
	if err != nil {
		return wrapUser("list", err)
	}
	list = UsersUTC(list)
	return c.Emit(list, func() error {
		tw := c.Table()
		WriteUsers(tw, list)
		return tw.Flush()
	})
}

// UsersUTC readies users for listing: never null in JSON, times in UTC.
func UsersUTC(list []users.User) []users.User {
	if list == nil {
		list = []users.User{}
	}
	for i := range list {
		list[i].Created = list[i].Created.UTC()
	}
	return list
}

// WriteUsers is the user table, as the shell and the host CLI print it.
func WriteUsers(w io.Writer, list []users.User) {
	fmt.Fprintln(w, "NAME\tROLE\tSTATUS\tPASSWORD\tKEYS\tCREATED")
	for _, u := range list {
		status, pw := "enabled", "no"
		if u.Disabled {
			status = "disabled"
		}
		if u.HasPassword {
			pw = "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", u.Name, u.Role, status, pw, u.Keys, u.Created.Format(cli.TimeFormat))
	}
}

func (c *Ctx) userKey(sub, name string, more []string) error {
	ua := c.sh.admin
	switch {
	case sub == "add":
		data := strings.Join(more, " ")
		if data == "" {
			var err error
			if data, err = c.readKeys(); err != nil {
				return fmt.Errorf("user key add: %w", err)
			}
		}
		added, err := ua.AddKeys(c.ctx, name, []byte(data))
		if err != nil {
			return wrapUser("key add", err)
		}
		for _, k := range added {
			fmt.Fprintf(c.Err, "Added %s %s %s to %s.\n", k.Fingerprint, k.Type, k.Comment, name)
		}
		return nil
	case sub == "list" && len(more) == 0:
		keys, err := ua.Keys(c.ctx, name)
		if err != nil {
			return wrapUser("key list", err)
		}
		return c.emitKeys(keys)
	case sub == "del" && len(more) == 1:
		return c.done(wrapUser("key del", ua.DeleteKey(c.ctx, name, more[0])), "Deleted key %s of %s.", more[0], name)
	}
	return userUsage("key")
}

// readKeys reads authorized_keys lines: one line on a terminal, every line
// of a pipe (at most 1 MiB).
func (c *Ctx) readKeys() (string, error) {
	var b strings.Builder
	for b.Len() < 1<<20 {
		line, err := c.ReadLine("Key (an authorized_keys line): ")
		if err != nil {
			break
		}
		b.WriteString(line + "\n")
		if c.Interactive {
			break
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", errors.New("no key given; pass KEY or pipe authorized_keys lines")
	}
	return b.String(), nil
}

// adminPassword reads a new password for someone else: the first line of
// stdin with --password-stdin, else twice without echo on a terminal;
// without a terminal it is refused, as passwd is.
func (c *Ctx) adminPassword(verb string) (string, error) {
	if c.Flags.Bool("password-stdin") {
		pw, err := c.ReadSecret("", true)
		if err != nil {
			return "", fmt.Errorf("%s: no password on stdin", verb)
		}
		if err := users.CheckPasswordPolicy(pw); err != nil {
			return "", fmt.Errorf("%s: %w; nothing changed", verb, err)
		}
		return pw, nil
	}
	if !c.Interactive {
		return "", noTerminal(verb + ": this needs a terminal to ask for the password without echo: use 'ssh -t', or pipe it with --password-stdin")
	}
	pw, err := c.ReadSecret("Password: ", false)
	if err != nil {
		return "", fmt.Errorf("%s: %w", verb, err)
	}
	if err := users.CheckPasswordPolicy(pw); err != nil {
		return "", fmt.Errorf("%s: %w; nothing changed", verb, err)
	}
	again, err := c.ReadSecret("Repeat password: ", false)
	if err != nil {
		return "", fmt.Errorf("%s: %w", verb, err)
	}
	if pw != again {
		return "", fmt.Errorf("%s: the passwords differ; nothing changed", verb)
	}
	return pw, nil
}
