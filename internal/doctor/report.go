package doctor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
)

// Log logs each check at the level its status calls for (serve does at
// start).
func (r Report) Log(log *slog.Logger) {
	for _, c := range r.Checks {
		level := slog.LevelInfo
		switch c.Status {
		case Warn:
			level = slog.LevelWarn
		case Fail:
			level = slog.LevelError
		}
		log.Log(context.Background(), level, "doctor", "check", c.Name, "status", string(c.Status), "detail", c.Detail)
	}
}

// WriteTable writes one aligned line per check: status, name, detail.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Status, c.Name, c.Detail)
	}
	return tw.Flush()
}
