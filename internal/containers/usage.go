package containers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// Used is what one user's containers used over a sweep pass.
type Used struct {
	Running time.Duration // summed over the containers that ran
	CPU     time.Duration
	GPUBusy time.Duration // GPU time at or over the busy threshold
}

// RecordUsage sums a pass's use into the hours (the sweep calls it). A
// failure is logged: usage is a report, never in the way of the sweep.
func (s *Service) RecordUsage(ctx context.Context, at time.Time, used map[string]Used) {
	samples := make([]store.UsageSample, 0, len(used))
	for owner, u := range used {
		samples = append(samples, store.UsageSample{Owner: owner, At: at, Running: u.Running, CPU: u.CPU, GPUBusy: u.GPUBusy})
	}
	err := store.Tx(ctx, s.db, func(q store.Querier) error { return s.st.UsageDays.Add(ctx, q, samples) })
	if err != nil {
		s.log.Warn("recording usage failed", "err", err)
	}
}

// UsageRow is one user's use over one period.
type UsageRow struct {
	User           string    `json:"user"`
	Period         string    `json:"period"` // "2026-12-07", "2026-W49", "2026-12", or "since 2026-11-07"
	From           time.Time `json:"from"`
	GPUHoursBooked float64   `json:"gpu_hours_booked"`
	GPUHoursBusy   float64   `json:"gpu_hours_busy"`
	ContainerHours float64   `json:"container_hours"`
	CPUHours       float64   `json:"cpu_hours"`
}

// UsageQuery is what 'usage' asks: whose (one user, or everyone's for
// ""), since when, and by which period ("", day, week or month).
type UsageQuery struct {
	User  string
	Since time.Duration
	By    string
	Now   time.Time // zero: now
}

// Usage reports GPU-hours booked (from the assignment history), GPU-hours
// busy, container hours and CPU-hours (from the sweep's hours), per user
// and period. It reads only the rows of the window.
func (s *Service) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	if q.Since <= 0 {
		return nil, fmt.Errorf("--since must be positive, e.g. 30d")
	}
	bucket, err := bucketer(q.By)
	if err != nil {
		return nil, err
	}
	from := now.Add(-q.Since)
	if q.By == "" {
		bucket = func(time.Time) (time.Time, string) { return from, "since " + from.Format("2006-01-02") }
	}
	type key struct {
		user  string
		start int64
	}
	rows := map[key]*UsageRow{}
	row := func(user string, at time.Time) *UsageRow {
		start := bucketStart(q.By, at, from)
		k := key{user, start.Unix()}
		if rows[k] == nil {
			_, label := bucket(start)
			rows[k] = &UsageRow{User: user, Period: label, From: start}
		}
		return rows[k]
	}
	as, err := s.st.GPUHistory.Since(ctx, s.db, from)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	perHost := map[string]int{}
	if gs, err := s.allGPUs(ctx); err == nil {
		for _, g := range gs {
			perHost[g.Host]++
		}
	}
	for _, a := range as {
		if q.User != "" && a.Owner != q.User {
			continue
		}
		n := 1.0
		if member, isAll := strings.CutSuffix(a.GPU, "all"); isAll {
			n = float64(max(1, perHost[strings.TrimSuffix(member, "/")]))
		}
		start, end := a.Since.UTC(), a.Until.UTC()
		if start.Before(from) {
			start = from
		}
		if a.Until.IsZero() || end.After(now) {
			end = now
		}
		// Split the span at period boundaries.
		for start.Before(end) {
			next := nextBucket(q.By, bucketStart(q.By, start, from), end)
			if next.After(end) || q.By == "" {
				next = end
			}
			row(a.Owner, start).GPUHoursBooked += n * next.Sub(start).Hours()
			start = next
		}
	}
	hours, err := s.st.UsageDays.Since(ctx, s.db, q.User, from)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	for _, h := range hours {
		r := row(h.Owner, h.Day)
		r.ContainerHours += h.Running.Hours()
		r.CPUHours += h.CPU.Hours()
		r.GPUHoursBusy += h.GPUBusy.Hours()
	}
	out := make([]UsageRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].From.Before(out[j].From)
	})
	return out, nil
}

// bucketer returns the start and label of the period holding a time.
func bucketer(by string) (func(time.Time) (time.Time, string), error) {
	switch by {
	case "", "day":
		return func(t time.Time) (time.Time, string) {
			d := t.UTC().Truncate(24 * time.Hour)
			return d, d.Format("2006-01-02")
		}, nil
	case "week":
		return func(t time.Time) (time.Time, string) {
			d := t.UTC().Truncate(24 * time.Hour)
			d = d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)) // back to Monday
			y, w := d.ISOWeek()
			return d, fmt.Sprintf("%d-W%02d", y, w)
		}, nil
	case "month":
		return func(t time.Time) (time.Time, string) {
			t = t.UTC()
			d := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
			return d, d.Format("2006-01")
		}, nil
	}
	return nil, fmt.Errorf("--by %q: use day, week or month", by)
}

// bucketStart is the start of the period holding t, by arithmetic (the
// labels are made once per row).
func bucketStart(by string, t, from time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch by {
	case "day":
		return day
	case "week":
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case "month":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return from
}

func nextBucket(by string, start, end time.Time) time.Time {
	switch by {
	case "day":
		return start.AddDate(0, 0, 1)
	case "week":
		return start.AddDate(0, 0, 7)
	case "month":
		return start.AddDate(0, 1, 0)
	}
	return end
}
