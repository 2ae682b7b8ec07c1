package shell

import (
	"errors"
	"fmt"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/notify"
)

// emailCmds set where one's notices are mailed.
func emailCmds() []*Command {
	return []*Command{
		{Name: "email", Args: "[ADDR|-]", MaxArgs: 1, Summary: "show or set the address your notices are mailed to",
			Run: runEmail,
			Help: "Notices (a lease running out, an idle stop coming, a queued launch started) go to this\n" +
				"address when the gateway has a mail server. 'email -' clears it."},
	}
}

func runEmail(c *Ctx, args []string) error {
	if len(args) == 0 {
		addr, err := c.sh.notices.Email(c.Context(), c.User.Name)
		if err != nil {
			return err
		}
		if addr == "" {
			fmt.Fprintln(c.Err, "No address: your notices show at login only. 'email ADDR' sets one.")
			return nil
		}
		fmt.Fprintln(c.Out, addr)
		return nil
	}
	return setEmail(c, c.User.Name, args[0])
}

// runUserEmail is the admins' 'user email NAME ADDR|-'.
func runUserEmail(c *Ctx, args []string) error {
	if c.sh.notices == nil {
		return errors.New("notices are not kept here")
	}
	if _, err := c.sh.admin.Get(c.Context(), args[0]); err != nil {
		return wrapUser("email", err)
	}
	return setEmail(c, args[0], args[1])
}

func setEmail(c *Ctx, user, addr string) error {
	if addr == "-" {
		return c.done(c.sh.notices.SetEmail(c.Context(), user, ""), "Cleared %s's address.", user)
	}
	if err := c.sh.notices.SetEmail(c.Context(), user, addr); err != nil {
		if errors.Is(err, notify.ErrBadAddress) {
			return cli.Usage(err)
		}
		return err
	}
	c.say("Notices of %s go to %s.", user, addr)
	return nil
}
