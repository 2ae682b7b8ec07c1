package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/users"
)

// UserAdmin is what admins change users with, over SSH and from the host's
// 'lxcgate user' (which runs this user command, see Exec). users.Store
// satisfies it.
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
	AddWithKeys(ctx context.Context, name string, role users.Role, authorizedKeys []byte) (users.User, error)
	Invite(ctx context.Context, name string, ttl time.Duration) (users.Invitation, error)
}

var _ UserAdmin = (*users.Store)(nil)

// passwordStdinFlag is how add and passwd take the password in scripts.
var passwordStdinFlag = cli.Flag{Name: "password-stdin", Help: "with add and passwd: read the password from the first line of stdin"}

// userVerbs are the user command's verbs, in the order its help lists them.
func userVerbs() []*Command {
	name := completeUsers
	return []*Command{
		{Name: "add", Args: "NAME", MinArgs: 1, MaxArgs: -1, Run: runUserAdd,
			Flags: []cli.Flag{{Name: "admin", Help: "with add: give the user the admin role"}, passwordStdinFlag, keyFlag, keyStdinFlag}},
		{Name: "list", Flags: cli.FormatFlags, Run: runUserList},
		{Name: "del", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runUserDel, Complete: name},
		{Name: "disable", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runUserEnable(true), Complete: name},
		{Name: "enable", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runUserEnable(false), Complete: name},
		{Name: "passwd", Args: "NAME", MinArgs: 1, MaxArgs: 1, Flags: []cli.Flag{passwordStdinFlag}, Run: runUserPasswd, Complete: name},
		{Name: "role", Args: "NAME admin|user", MinArgs: 2, MaxArgs: 2, Run: runUserRole, Complete: completeRole},
		{Name: "invite", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runUserInvite, Complete: name,
			Flags: []cli.Flag{expiresFlag}},
		{Name: "email", Args: "NAME ADDR|-", MinArgs: 2, MaxArgs: 2, Run: runUserEmail, Complete: name},
		{Name: "key", Subs: []*Command{
			{Name: "add", Args: "NAME [KEY]", MinArgs: 1, MaxArgs: -1, Run: runUserKeyAdd, Complete: name},
			// list takes --format and --json too, declared by 'user list'.
			{Name: "list", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runUserKeyList, Complete: name},
			{Name: "del", Args: "NAME FINGERPRINT", MinArgs: 2, MaxArgs: 2, Run: runUserKeyDel, Complete: name},
		}},
	}
}

func userCmds() []*Command {
	cmd := &Command{Name: "user", Args: "VERB [ARGS]", MinArgs: 1, MaxArgs: -1, Admin: true,
		Summary: "manage the gateway's users (add, list, del, disable, enable, passwd, role, invite, email, key)", Subs: userVerbs()}
	cmd.Help = cmd.verbList() +
		"Passwords are asked twice without echo on a terminal (ssh -t), or read from the\n" +
		"first line of stdin with --password-stdin. 'user key add NAME' without KEY reads\n" +
		"authorized_keys lines from stdin. 'user add NAME --key KEY' (or --key-stdin) makes a\n" +
		"key-only user: no password is asked, and password logins are refused until 'user passwd'.\n" +
		"'user invite NAME' prints a one-time code (24h unless --expires) and the command with\n" +
		"which the member registers their own key; NAME is made key-only if new.\n" +
		"The last enabled admin cannot be demoted, disabled\n" +
		"or deleted, nor can a user who owns containers be deleted."
	return []*Command{cmd}
}

// completeUsers offers the gateway's users for the first argument.
func completeUsers(c *Ctx, args []string) []string {
	if len(args) > 0 {
		return nil
	}
	list, _ := c.sh.admin.List(c.Context())
	var out []string
	for _, u := range list {
		out = append(out, u.Name)
	}
	return out
}

// completeRole offers the users, then the roles.
func completeRole(c *Ctx, args []string) []string {
	if len(args) == 1 {
		return []string{string(users.RoleAdmin), string(users.RoleUser)}
	}
	return completeUsers(c, args)
}

func runUserAdd(c *Ctx, args []string) error {
	ua, name := c.sh.admin, args[0]
	if err := users.CheckNewName(name); err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	if _, err := ua.Get(c.Context(), name); err == nil {
		return fmt.Errorf("user add: %s exists; nothing changed", name)
	}
	role := users.RoleUser
	if c.Flags.Bool("admin") {
		role = users.RoleAdmin
	}
	if c.Flags.Changed("key") || c.Flags.Bool("key-stdin") {
		return addWithKey(c, name, role, args[1:])
	}
	if len(args) > 1 {
		return cli.Usagef("user add: too many arguments")
	}
	pw, err := c.adminPassword("user add")
	if err != nil {
		return err
	}
	u, err := ua.Add(c.Context(), name, role, pw)
	return c.done(wrapUser("add", err), "Added %s (%s).", u.Name, u.Role)
}

func runUserDel(c *Ctx, args []string) error {
	return c.done(wrapUser("del", c.sh.admin.Delete(c.Context(), args[0])), "Deleted %s; their containers, if any, stay in LXD.", args[0])
}

func runUserEnable(disable bool) func(c *Ctx, args []string) error {
	verb := "enable"
	if disable {
		verb = "disable"
	}
	return func(c *Ctx, args []string) error {
		return c.done(wrapUser(verb, c.sh.admin.SetDisabled(c.Context(), args[0], disable)), "%sd %s.", capital(verb), args[0])
	}
}

func runUserPasswd(c *Ctx, args []string) error {
	ua := c.sh.admin
	if _, err := ua.Get(c.Context(), args[0]); err != nil {
		return wrapUser("passwd", err)
	}
	pw, err := c.adminPassword("user passwd")
	if err != nil {
		return err
	}
	return c.done(wrapUser("passwd", ua.SetPassword(c.Context(), args[0], pw)), "Password of %s changed.", args[0])
}

func runUserRole(c *Ctx, args []string) error {
	role := users.Role(args[1])
	if role != users.RoleAdmin && role != users.RoleUser {
		return errVerbUsage
	}
	return c.done(wrapUser("role", c.sh.admin.SetRole(c.Context(), args[0], role)), "%s is now %s.", args[0], role)
}

func capital(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// wrapUser puts the verb before a store error, keeping it one line.
func wrapUser(verb string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("user %s: %w", verb, err)
}

func runUserList(c *Ctx, _ []string) error {
	list, err := c.sh.admin.List(c.Context())
	if err != nil {
		return wrapUser("list", err)
	}
	list = usersUTC(list)
	return c.Emit(list, func() error {
		tw := c.Table()
		writeUsers(tw, list)
		return tw.Flush()
	})
}

// usersUTC readies users for listing: never null in JSON, times in UTC.
func usersUTC(list []users.User) []users.User {
	if list == nil {
		list = []users.User{}
	}
	for i := range list {
		list[i].Created = list[i].Created.UTC()
	}
	return list
}

// writeUsers is the user table, as the shell and the host CLI print it.
func writeUsers(w io.Writer, list []users.User) {
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

func runUserKeyAdd(c *Ctx, args []string) error {
	name, data := args[0], strings.Join(args[1:], " ")
	if data == "" {
		var err error
		if data, err = c.readKeys(); err != nil {
			return fmt.Errorf("user key add: %w", err)
		}
	}
	added, err := c.sh.admin.AddKeys(c.Context(), name, []byte(data))
	if err != nil {
		return wrapUser("key add", err)
	}
	for _, k := range added {
		c.say("Added %s %s %s to %s.", k.Fingerprint, k.Type, k.Comment, name)
	}
	return nil
}

func runUserKeyList(c *Ctx, args []string) error {
	keys, err := c.sh.admin.Keys(c.Context(), args[0])
	if err != nil {
		return wrapUser("key list", err)
	}
	return c.emitKeys(keys)
}

func runUserKeyDel(c *Ctx, args []string) error {
	return c.done(wrapUser("key del", c.sh.admin.DeleteKey(c.Context(), args[0], args[1])), "Deleted key %s of %s.", args[1], args[0])
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
	if answers, ok, err := c.hostSecrets("Password: ", "Repeat password: "); ok {
		return checkNewPassword(verb, answers, err)
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

// checkNewPassword checks a new password asked twice in one go.
func checkNewPassword(verb string, answers []string, err error) (string, error) {
	if err != nil {
		return "", fmt.Errorf("%s: %w", verb, err)
	}
	if err := users.CheckPasswordPolicy(answers[0]); err != nil {
		return "", fmt.Errorf("%s: %w; nothing changed", verb, err)
	}
	if answers[0] != answers[1] {
		return "", fmt.Errorf("%s: the passwords differ; nothing changed", verb)
	}
	return answers[0], nil
}
