package shell

import (
	"fmt"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/units"
)

// usageCmds report what users used.
func usageCmds() []*Command {
	return []*Command{
		{Name: "usage", Summary: "GPU-hours, container hours and CPU-hours, per user and period",
			Flags: append([]cli.Flag{
				{Name: "user", Kind: cli.String, Arg: "USER", Help: "this user's (admins)", Admin: true},
				{Name: "all", Help: "everyone's (admins)", Admin: true},
				{Name: "since", Kind: cli.String, Arg: "DUR", Default: "30d", Help: "how far back, e.g. 7d or 12h"},
				{Name: "by", Kind: cli.String, Arg: "PERIOD", Values: []string{"day", "week", "month"}, Help: "one row per day, week or month (default: one for the whole span)"},
			}, cli.FormatFlags...),
			Run: runUsage,
			Help: "GPU-hours booked (from the GPUs your containers held), GPU-hours busy (at or over [idle]\n" +
				"gpu_percent, where nvidia-smi runs), container hours (running) and CPU-hours, for you; admins:\n" +
				"--user USER or --all. --format csv for a spreadsheet."},
	}
}

func runUsage(c *Ctx, _ []string) error {
	since, err := units.ParseAge(c.Flags.String("since"))
	if err != nil || since <= 0 {
		return cli.Usagef("--since %q: give a span such as 30d or 12h", c.Flags.String("since"))
	}
	user := c.User.Name
	switch {
	case c.Flags.String("user") != "" && c.Flags.Bool("all"):
		return cli.Usagef("--user and --all: give one of the two")
	case c.Flags.String("user") != "":
		user = c.Flags.String("user")
	case c.Flags.Bool("all"):
		user = ""
	}
	rows, err := c.containers().Usage(c.Context(), containers.UsageQuery{User: user, Since: since, By: c.Flags.String("by")})
	if err != nil {
		return err
	}
	return c.Emit(rows, func() error {
		if len(rows) == 0 {
			fmt.Fprintln(c.Err, "No use recorded in that span.")
			return nil
		}
		tw := c.Table()
		fmt.Fprintln(tw, "USER\tPERIOD\tGPU-H BOOKED\tGPU-H BUSY\tCONTAINER-H\tCPU-H")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\n", r.User, r.Period, r.GPUHoursBooked, r.GPUHoursBusy, r.ContainerHours, r.CPUHours)
		}
		return tw.Flush()
	})
}
