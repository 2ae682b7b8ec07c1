package shell

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/units"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Flags of the onboarding verbs: 'user add --key/--key-stdin' and 'user invite'.
var (
	keyFlag      = cli.Flag{Name: "key", Kind: cli.String, Arg: "KEY", Help: "with add: make a key-only user with this authorized_keys line (no password)"}
	keyStdinFlag = cli.Flag{Name: "key-stdin", Help: "with add: make a key-only user with the authorized_keys lines read from stdin"}
	expiresFlag  = cli.Flag{Name: "expires", Kind: cli.String, Arg: "DURATION", Default: "24h",
		Help: "with invite: how long the code works (up to 30d)"}
)

// addWithKey is 'user add NAME --key KEY' or '--key-stdin': a key-only
// user, made with their keys in one go. Words after --key's value are the
// rest of the key line, which an SSH command line splits.
func addWithKey(c *Ctx, name string, role users.Role, rest []string) error {
	byFlag, byStdin := c.Flags.Changed("key"), c.Flags.Bool("key-stdin")
	switch {
	case byFlag && byStdin:
		return cli.Usagef("user add: give --key or --key-stdin, not both")
	case c.Flags.Bool("password-stdin"):
		return cli.Usagef("user add: --key and --key-stdin make a key-only user; set a password later with 'user passwd %s'", name)
	case byStdin && len(rest) > 0:
		return cli.Usagef("user add: too many arguments")
	}
	data := strings.TrimSpace(strings.Join(append([]string{c.Flags.String("key")}, rest...), " "))
	if byStdin {
		var err error
		if data, err = c.readKeys(); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
	}
	if data == "" {
		return cli.Usagef("user add: --key needs an authorized_keys line, such as the contents of ~/.ssh/id_ed25519.pub")
	}
	u, err := c.sh.admin.AddWithKeys(c.Context(), name, role, []byte(data))
	return c.done(wrapUser("add", err), "Added %s (%s), key-only: %d key(s), no password.", u.Name, u.Role, u.Keys)
}

// inviteView is what 'user invite' prints, and its --json form.
type inviteView struct {
	User    string    `json:"user"`
	Created bool      `json:"created"`
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
	Command string    `json:"command"`
}

func runUserInvite(c *Ctx, args []string) error {
	ttl, err := units.ParseAge(c.Flags.String("expires"))
	if err == nil && (ttl < time.Minute || ttl > users.MaxInviteTTL) {
		err = fmt.Errorf("%q is not between 1m and 30d", c.Flags.String("expires"))
	}
	if err != nil {
		return cli.Usagef("user invite: --expires: %v; say 24h or 7d", err)
	}
	inv, err := c.sh.admin.Invite(c.Context(), args[0], ttl)
	if err != nil {
		return wrapUser("invite", err)
	}
	v := inviteView{User: inv.User.Name, Created: inv.Created, Code: inv.Code, Expires: inv.Expires.UTC(),
		Command: c.sh.inviteCommand(inv.Code)}
	return c.Emit(v, func() error {
		what := "existing user"
		if v.Created {
			what = "new key-only user"
		}
		fmt.Fprintf(c.Out, "Invite for %s (%s), one use, until %s:\n\n  %s\n\n", v.User, what, v.Expires.Format(cli.TimeFormat), v.Code)
		fmt.Fprintf(c.Out, "%s runs this to register their key (the code is not shown again):\n\n  %s\n", v.User, v.Command)
		return nil
	})
}

// inviteCommand is the command a member runs to redeem code, with the
// gateway's public address and port.
func (sh *Shell) inviteCommand(code string) string {
	host, port, err := net.SplitHostPort(sh.gateway)
	if err != nil || host == "" {
		host, port = "GATEWAY", "2222"
	}
	return fmt.Sprintf("ssh -p %s %s@%s %s < ~/.ssh/id_ed25519.pub", port, users.InviteAccount, host, code)
}
