package store

import (
	"context"
	"time"
)

// UsageSample is what one user's containers used over a sweep pass.
type UsageSample struct {
	Owner                 string
	At                    time.Time // the pass; it counts in this hour
	Running, CPU, GPUBusy time.Duration
}

// UsageDay is a row of usage_days.
type UsageDay struct {
	Owner                 string
	Day                   time.Time
	Running, CPU, GPUBusy time.Duration
}

// UsageDays is the usage_days table.
type UsageDays interface {
	// Add sums samples into their days.
	Add(ctx context.Context, q Querier, samples []UsageSample) error
	// Since returns the days from from's on, of owner ("" for
	// everyone's), by owner then day.
	Since(ctx context.Context, q Querier, owner string, from time.Time) ([]UsageDay, error)
}

type usageTable struct{}

var _ UsageDays = usageTable{}

func (usageTable) Add(ctx context.Context, q Querier, samples []UsageSample) error {
	for _, s := range samples {
		day := s.At.UTC().Truncate(24 * time.Hour).Unix()
		_, err := q.ExecContext(ctx, `INSERT INTO usage_days (owner, day, running_s, cpu_s, gpu_busy_s) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (owner, day) DO UPDATE SET running_s = running_s + excluded.running_s, cpu_s = cpu_s + excluded.cpu_s,
			gpu_busy_s = gpu_busy_s + excluded.gpu_busy_s`,
			s.Owner, day, s.Running.Seconds(), s.CPU.Seconds(), s.GPUBusy.Seconds())
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

func (usageTable) Since(ctx context.Context, q Querier, owner string, from time.Time) ([]UsageDay, error) {
	query := `SELECT owner, day, running_s, cpu_s, gpu_busy_s FROM usage_days WHERE day >= ?`
	args := []any{from.UTC().Truncate(24 * time.Hour).Unix()}
	if owner != "" {
		query += ` AND owner = ?`
		args = append(args, owner)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY owner, day`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []UsageDay
	for rows.Next() {
		var h UsageDay
		var day int64
		var run, cpu, gpu float64
		if err := rows.Scan(&h.Owner, &day, &run, &cpu, &gpu); err != nil {
			return nil, mapErr(err)
		}
		h.Day = time.Unix(day, 0).UTC()
		h.Running, h.CPU, h.GPUBusy = secs(run), secs(cpu), secs(gpu)
		out = append(out, h)
	}
	return out, mapErr(rows.Err())
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
