package shell

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/units"
	"github.com/lxcgate/lxcgate/internal/webauth"
)

// Web is what the web and token commands need: sign-in links and API
// tokens. webauth.Auth satisfies it; the shell never speaks HTTP.
type Web interface {
	SignIn(ctx context.Context, user string) (link string, expires time.Time, err error)
	EndSessions(ctx context.Context, user string) (int64, error)
	CreateToken(ctx context.Context, user, name string, ttl time.Duration) (webauth.Token, string, error)
	Tokens(ctx context.Context, user string) ([]webauth.Token, error)
	RevokeToken(ctx context.Context, user string, id int64) error
	RevokeTokens(ctx context.Context, user string) (int64, error)
}

var _ Web = (*webauth.Auth)(nil)

func webCmds() []*Command {
	return []*Command{
		{Name: "web", Summary: "print a one-time link that signs you in to the web page", Run: runWeb,
			Flags: []cli.Flag{{Name: "logout-all", Help: "sign out every browser signed in as you instead"}},
			Help: "The link works once, within 5 minutes, and signs that browser in for 12 hours.\n" +
				"Keep it to yourself: whoever opens it first is signed in as you."},
		{Name: "token", Args: "create|list|revoke [ID]", MinArgs: 1, MaxArgs: 2, Summary: "manage your API tokens",
			Subs: []*Command{
				{Name: "create", MaxArgs: -1, Run: runTokenCreate, Flags: []cli.Flag{
					{Name: "name", Kind: cli.String, Arg: "NAME", Help: "with create: a name to know it by"},
					{Name: "expires", Kind: cli.String, Arg: "DUR", Help: "with create: its lifetime, e.g. 30d or 12h (default: never)"}}},
				{Name: "revoke", Args: "ID", MaxArgs: -1, Run: revokeTokens,
					Flags: []cli.Flag{{Name: "all", Help: "with revoke: every token of yours"}}},
				{Name: "list", MaxArgs: -1, Run: runTokenList, Flags: cli.FormatFlags},
			},
			NoVerb: cli.Usagef("use 'token create', 'token list' or 'token revoke ID|--all'"),
			Help: "token create [--name N] [--expires DUR] prints a new token alone on the last line of\n" +
				"stdout, once: it is stored hashed and cannot be shown again. Scripts send it as\n" +
				"'Authorization: Bearer TOKEN' to the web API (/api/v1). token list shows yours;\n" +
				"token revoke ID (or --all) revokes them at once."},
	}
}

func runWeb(c *Ctx, _ []string) error {
	if c.Flags.Bool("logout-all") {
		n, err := c.sh.web.EndSessions(c.Context(), c.User.Name)
		return c.done(err, "Signed out %d browser session(s).", n)
	}
	link, expires, err := c.sh.web.SignIn(c.Context(), c.User.Name)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	fmt.Fprintf(c.Err, "Open this link within %s (it works once; until %s):\n", webauth.LinkTTL, cli.TableTime(expires))
	fmt.Fprintln(c.Out, link)
	return nil
}

func runTokenCreate(c *Ctx, args []string) error {
	if len(args) > 0 {
		return cli.Usagef("token create takes no arguments: use --name and --expires")
	}
	var ttl time.Duration
	if e := c.Flags.String("expires"); e != "" {
		d, err := units.ParseAge(e)
		if err != nil || d <= 0 {
			return cli.Usagef("--expires %q: a duration such as 30d or 12h", e)
		}
		ttl = d
	}
	t, secret, err := c.sh.web.CreateToken(c.Context(), c.User.Name, c.Flags.String("name"), ttl)
	if err != nil {
		return err
	}
	c.Note(fmt.Sprintf("token %d", t.ID)) // its id, never its value
	fmt.Fprintf(c.Err, "Created token %d; it is shown this once:\n", t.ID)
	fmt.Fprintln(c.Out, secret)
	return nil
}

func runTokenList(c *Ctx, _ []string) error {
	list, err := c.sh.web.Tokens(c.Context(), c.User.Name)
	if err != nil {
		return err
	}
	return c.Emit(list, func() error { return writeTokens(c, list) })
}

func revokeTokens(c *Ctx, args []string) error {
	if c.Flags.Bool("all") {
		if len(args) > 0 {
			return cli.Usagef("token revoke takes an ID or --all, not both")
		}
		n, err := c.sh.web.RevokeTokens(c.Context(), c.User.Name)
		return c.done(err, "Revoked %d token(s).", n)
	}
	if len(args) != 1 {
		return cli.Usagef("token revoke ID|--all")
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		return cli.Usagef("token ID must be a number, as 'token list' shows it")
	}
	err = c.sh.web.RevokeToken(c.Context(), c.User.Name, id)
	if errors.Is(err, webauth.ErrNoToken) {
		return fmt.Errorf("%w; see 'token list'", err)
	}
	return c.done(err, "Revoked token %d.", id)
}

func writeTokens(c *Ctx, list []webauth.Token) error {
	if len(list) == 0 {
		fmt.Fprintln(c.Err, "No tokens; 'token create' makes one.")
		return nil
	}
	opt := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return cli.TableTime(*t)
	}
	tw := c.Table()
	fmt.Fprintln(tw, "ID\tNAME\tCREATED\tEXPIRES\tLAST USED")
	for _, t := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, dash(t.Name), cli.TableTime(t.Created), opt(t.Expires, "never"), opt(t.LastUsed, "-"))
	}
	return tw.Flush()
}
