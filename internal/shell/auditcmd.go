package shell

import (
	"context"
	"fmt"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/units"
)

// AuditReader reads the audit trail; audit.Log satisfies it.
type AuditReader interface {
	Query(ctx context.Context, f audit.Filter) ([]audit.Entry, error)
}

var _ AuditReader = (*audit.Log)(nil)

func auditCmds() []*Command {
	flags := append([]cli.Flag{
		{Name: "user", Kind: cli.String, Arg: "USER", Help: "only this user's rows", Admin: true},
		{Name: "since", Kind: cli.String, Arg: "DUR", Help: "only rows newer than this (\"2h\", \"7d\")"},
		{Name: "command", Kind: cli.String, Arg: "C", Help: "only runs of this command", Admin: true},
		{Name: "limit", Kind: cli.Int, Default: "50", Help: fmt.Sprintf("at most this many rows, newest first (at most %d)", audit.MaxRows)},
	}, cli.FormatFlags...)
	return []*Command{{Name: "audit", Summary: "show your logins (admins: the whole audit trail)", Flags: flags, Run: runAudit,
		Help: "Newest first. Users see their own logins; admins see every login, command and refusal,\n" +
			"and may pick a user (--user) and a command (--command)."}}
}

// auditRow is an audit row in JSON, YAML and CSV.
type auditRow struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	User   string    `json:"user"`
	Remote string    `json:"remote"`
	Method string    `json:"method"`
	OK     bool      `json:"ok"`
	Detail string    `json:"detail"`
}

func runAudit(c *Ctx, _ []string) error {
	f := audit.Filter{Limit: c.Flags.Int("limit"), User: c.Flags.String("user"), Command: c.Flags.String("command")}
	if f.Limit <= 0 {
		return cli.Usagef("--limit must be positive")
	}
	if s := c.Flags.String("since"); s != "" {
		age, err := units.ParseAge(s)
		if err != nil {
			return cli.Usagef("--since: %v", err)
		}
		f.Since = time.Now().Add(-age)
	}
	if !c.User.IsAdmin() {
		f.User, f.Kind = c.User.Name, audit.KindLogin // the gate refused --user and --command
	}
	rows, err := c.sh.auditLog.Query(c.Context(), f)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	view := make([]auditRow, 0, len(rows))
	for _, r := range rows {
		// Escaped again: a row from before escaping at write, or one that
		// reached the table some other way, must not drive the terminal.
		esc := audit.Escape
		view = append(view, auditRow{r.At.UTC(), esc(r.Kind), esc(r.User), esc(r.Remote), esc(r.Method), r.OK, esc(r.Detail)})
	}
	return c.Emit(view, func() error {
		tw := c.Table()
		fmt.Fprintln(tw, "TIME\tKIND\tUSER\tREMOTE\tMETHOD\tOK\tDETAIL")
		for _, r := range view {
			ok := "yes"
			if !r.OK {
				ok = "no"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Format(cli.TimeFormat), r.Kind, r.User, r.Remote, r.Method, ok, r.Detail)
		}
		return tw.Flush()
	})
}
