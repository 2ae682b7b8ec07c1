package web

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
)

// usageDays is the span of the page's usage chart.
const usageDays = 30

// bar is one bar of the usage chart: GPU-hours booked, and of them busy.
type bar struct {
	Label        string
	Booked, Busy float64
}

// usageChart is the page's usage: a member's GPU-hours per day over the
// last 30 days; an admin's, every user's over those days.
func (s *Server) usageChart(ctx context.Context, user string, admin bool, now time.Time) template.HTML {
	q := containers.UsageQuery{User: user, Since: usageDays * 24 * time.Hour, By: "day", Now: now}
	if admin {
		q.User, q.By = "", ""
	}
	rows, err := s.o.Service.Usage(ctx, q)
	if err != nil {
		s.log.Warn("page: usage unknown", "err", err)
		return ""
	}
	var bars []bar
	if admin {
		for _, r := range rows {
			bars = append(bars, bar{r.User, r.GPUHoursBooked, r.GPUHoursBusy})
		}
		return usageSVG(bars, "GPU-hours per user, last 30 days")
	}
	byDay := map[string]containers.UsageRow{}
	for _, r := range rows {
		byDay[r.Period] = r
	}
	from := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(usageDays - 1))
	for d := from; !d.After(now); d = d.AddDate(0, 0, 1) {
		r := byDay[d.Format("2006-01-02")]
		bars = append(bars, bar{d.Format("Jan 2"), r.GPUHoursBooked, r.GPUHoursBusy})
	}
	return usageSVG(bars, "Your GPU-hours per day, last 30 days")
}

// usageSVG draws bars (booked, with the busy part darker), labelled every
// few bars: inline SVG made here, titled and described for screen readers.
func usageSVG(bars []bar, title string) template.HTML {
	const w, h, l, r, t, btm = 720, 200, 40, 12, 12, 34
	pw, ph := float64(w-l-r), float64(h-t-btm)
	top, total, busy := 1.0, 0.0, 0.0
	for _, b := range bars {
		top = max(top, b.Booked)
		total += b.Booked
		busy += b.Busy
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart usage" viewBox="0 0 %d %d" role="img" aria-labelledby="usage-title usage-desc" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&sb, `<title id="usage-title">%s</title><desc id="usage-desc">%s</desc>`, html.EscapeString(title),
		html.EscapeString(fmt.Sprintf("%.1f GPU-hours booked in all, %.1f of them busy.", total, busy)))
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(t) + ph*(1-f)
		fmt.Fprintf(&sb, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="axis" x="%d" y="%.1f" text-anchor="end">%.0f</text>`,
			l, w-r, y, y, l-6, y+4, top*f)
	}
	if len(bars) == 0 {
		fmt.Fprintf(&sb, `<text class="empty" x="%d" y="%d" text-anchor="middle">no GPU use recorded</text></svg>`, l+int(pw)/2, t+int(ph)/2)
		return template.HTML(sb.String())
	}
	slot := pw / float64(len(bars))
	every := max(1, len(bars)/8)
	for i, b := range bars {
		x := float64(l) + slot*float64(i) + slot*0.15
		bw := slot * 0.7
		hb, hu := ph*b.Booked/top, ph*min(b.Busy, b.Booked)/top
		fmt.Fprintf(&sb, `<rect class="booked" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %.1f GPU-hours</title></rect>`,
			x, float64(t)+ph-hb, bw, hb, html.EscapeString(b.Label), b.Booked)
		if hu > 0 {
			fmt.Fprintf(&sb, `<rect class="busy" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x, float64(t)+ph-hu, bw, hu)
		}
		if i%every == 0 {
			fmt.Fprintf(&sb, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x+bw/2, h-12, html.EscapeString(b.Label))
		}
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) // built here from numbers and escaped text only
}
