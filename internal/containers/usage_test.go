package containers

import (
	"fmt"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// GPU-hours booked come from the assignments, split at period
// boundaries; hours running, CPU and GPU busy from the sweep's samples.
func TestUsage(t *testing.T) {
	s, ctx := newQueueService(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	h := s.st.GPUHistory
	// alice: GPU 0 from Dec 5 22:00 to Dec 6 02:00 (4 h over two days);
	// bob: "all" (two GPUs) for 3 h on Dec 6, and one still held since
	// Dec 7 10:00.
	h.Open(ctx, s.db, "alice", "a", []string{"0000:01:00.0"}, time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC))
	h.Close(ctx, s.db, "alice", "a", time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC))
	h.Open(ctx, s.db, "bob", "b", []string{"all"}, time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC))
	h.Close(ctx, s.db, "bob", "b", time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC))
	h.Open(ctx, s.db, "bob", "c", []string{"0000:02:00.0"}, time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	// Long ago: outside the window.
	h.Open(ctx, s.db, "alice", "old", []string{"0000:01:00.0"}, now.AddDate(0, -3, 0))
	h.Close(ctx, s.db, "alice", "old", now.AddDate(0, -3, 1))
	s.RecordUsage(ctx, time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC), map[string]Used{"bob": {Running: 90 * time.Minute, CPU: 3 * time.Hour, GPUBusy: time.Hour}})
	s.RecordUsage(ctx, time.Date(2026, 12, 6, 9, 45, 0, 0, time.UTC), map[string]Used{"bob": {Running: 30 * time.Minute}})

	rows, err := s.Usage(ctx, UsageQuery{Since: 7 * 24 * time.Hour, By: "day", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.User+" "+r.Period] = fmt.Sprintf("%.1f %.1f %.1f %.1f", r.GPUHoursBooked, r.GPUHoursBusy, r.ContainerHours, r.CPUHours)
	}
	want := map[string]string{
		"alice 2026-12-05": "2.0 0.0 0.0 0.0",
		"alice 2026-12-06": "2.0 0.0 0.0 0.0",
		"bob 2026-12-06":   "6.0 1.0 2.0 3.0",
		"bob 2026-12-07":   "2.0 0.0 0.0 0.0",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("by day:\n got %v\nwant %v", got, want)
	}
	rows, _ = s.Usage(ctx, UsageQuery{User: "alice", Since: 7 * 24 * time.Hour, Now: now})
	if len(rows) != 1 || rows[0].GPUHoursBooked != 4 || rows[0].Period != "since 2026-11-30" {
		t.Fatalf("alice's, whole span: %+v", rows)
	}
	rows, _ = s.Usage(ctx, UsageQuery{Since: 30 * 24 * time.Hour, By: "week", Now: now})
	if len(rows) != 3 || rows[0].Period != "2026-W49" || rows[2].Period != "2026-W50" {
		t.Fatalf("by week: %+v", rows)
	}
	if _, err := s.Usage(ctx, UsageQuery{Since: time.Hour, By: "year"}); err == nil {
		t.Fatal("--by year accepted")
	}
}

// BenchmarkUsageYear is 'usage --all --since 365d --by month' over 10,000
// assignments and a year of sweep samples of 10 users (target: 100 ms).
func BenchmarkUsageYear(b *testing.B) {
	t := &testing.T{}
	s, ctx := newQueueService(t)
	now := time.Now().UTC()
	err := store.Tx(ctx, s.db, func(q store.Querier) error {
		for i := 0; i < 10000; i++ {
			at := now.Add(-time.Duration(i) * 52 * time.Minute)
			owner := fmt.Sprintf("user%d", i%10)
			name := fmt.Sprintf("c%d", i)
			if err := s.st.GPUHistory.Open(ctx, q, owner, name, []string{"0000:01:00.0"}, at); err != nil {
				return err
			}
			if err := s.st.GPUHistory.Close(ctx, q, owner, name, at.Add(40*time.Minute)); err != nil {
				return err
			}
		}
		var samples []store.UsageSample
		for hr := 0; hr < 365*24; hr++ {
			for u := 0; u < 10; u++ {
				samples = append(samples, store.UsageSample{Owner: fmt.Sprintf("user%d", u), At: now.Add(-time.Duration(hr) * time.Hour),
					Running: time.Hour, CPU: time.Minute})
			}
		}
		return s.st.UsageDays.Add(ctx, q, samples)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows, err := s.Usage(ctx, UsageQuery{Since: 365 * 24 * time.Hour, By: "month"})
		if err != nil || len(rows) < 120 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}
