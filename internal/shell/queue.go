package shell

import (
	"fmt"
	"time"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
)

// queueCmds are the commands on the GPU queue.
func queueCmds() []*Command {
	return []*Command{
		{Name: "queue", Args: "[cancel NAME]", MaxArgs: 2, Summary: "list the launches waiting for GPUs, or cancel yours",
			Flags: append([]cli.Flag{{Name: "all", Help: "everyone's names (admins)", Admin: true}}, cli.FormatFlags...),
			Run:   runQueue,
			Subs: []*Command{
				{Name: "cancel", Args: "NAME", MinArgs: 1, MaxArgs: 1, Run: runQueueCancel},
			},
			Help: "The launches waiting for GPUs ('launch NAME --gpus N --queue'), in the order they start: the\n" +
				"user with the fewest GPU-hours over the last days first, a request waiting too long before all.\n" +
				"Yours in full; others' as their GPUs and waiting time only. LIKELY comes from the leases of the\n" +
				"GPUs' holders. 'queue cancel NAME' withdraws yours."},
	}
}

func runQueue(c *Ctx, args []string) error {
	if len(args) > 0 {
		return cli.Usagef("use 'queue' or 'queue cancel NAME'")
	}
	list, err := c.containers().Queue(c.Context(), c.User.Name, c.Flags.Bool("all") && c.User.IsAdmin())
	if err != nil {
		return err
	}
	return c.Emit(list, func() error {
		if len(list) == 0 {
			fmt.Fprintln(c.Err, "Nobody waits for GPUs.")
			return nil
		}
		tw := c.Table()
		fmt.Fprintln(tw, "POS\tUSER\tNAME\tGPUS\tHOST\tWAITING SINCE\tLIKELY")
		for _, q := range list {
			likely := "unknown"
			if q.Likely != nil {
				likely = q.Likely.Format("2006-01-02 15:04 UTC")
			}
			if q.Starved {
				likely += " (waited longest: goes first)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", q.Position, q.User, dash(q.Name), q.GPUs, dash(q.Host),
				q.Since.Format("2006-01-02 15:04 UTC"), likely)
		}
		return tw.Flush()
	})
}

func runQueueCancel(c *Ctx, args []string) error {
	return c.done(c.containers().CancelQueued(c.Context(), c.User.Name, args[0]), "Withdrew %s from the queue.", args[0])
}

func gpuCount(n int) string {
	if n == 1 {
		return "1 GPU"
	}
	return fmt.Sprintf("%d GPUs", n)
}

// waitInQueue holds the session while name waits, with a line saying
// where it stands, until it starts (its container) or fails. Ctrl-C or a
// dropped connection leaves it queued.
func (c *Ctx) waitInQueue(name string) (containers.Container, error) {
	p := c.progress()
	defer p.done()
	last := ""
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		q, err := c.containers().QueueState(c.Context(), c.User.Name, name)
		switch {
		case c.Context().Err() != nil:
			return containers.Container{}, fmt.Errorf("%s stays queued; 'queue' shows it", name)
		case err != nil:
			return containers.Container{}, err
		case q.State == "started":
			p.done()
			return c.containers().Get(c.Context(), c.User.Name, name)
		case q.State == "failed":
			return containers.Container{}, fmt.Errorf("the queued launch of %s failed: %s", name, q.Detail)
		}
		line := fmt.Sprintf("waiting for %s: %s in line", gpuCount(q.GPUs), containers.Ordinal(q.Position))
		if q.Likely != nil {
			line += ", likely by " + q.Likely.Format("15:04 UTC")
		}
		if line != last {
			p.line(line)
			last = line
		}
		select {
		case <-c.Context().Done():
		case <-t.C:
		}
	}
}
