package web

import (
	"fmt"
	"html"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
)

// step is the number of GPUs in use from At until the next step.
type step struct {
	At    time.Time
	InUse int
}

// occupancy turns recorded assignments into a step function over
// [from, now]: how many of the GPUs were held at each moment. A GPU held
// by several containers (shared GPUs) counts once; "all" (or "member/all")
// holds every GPU of its host. gpus are the GPUs known now, by their keys.
func occupancy(spans []containers.GPUSpan, gpus []containers.GPUInfo, from, now time.Time) []step {
	perHost := map[string]int{}
	for _, g := range gpus {
		perHost[g.Host]++
	}
	type event struct {
		at    time.Time
		key   string
		delta int
	}
	var evs []event
	for _, sp := range spans {
		start, end := sp.Since, sp.Until
		if end.IsZero() || end.After(now) {
			end = now
		}
		if start.Before(from) {
			start = from
		}
		if !start.Before(end) {
			continue
		}
		evs = append(evs, event{start, sp.GPU, +1})
		if end.Before(now) {
			evs = append(evs, event{end, sp.GPU, -1})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	active := map[string]int{}
	steps := []step{{At: from}}
	for i := 0; i < len(evs); {
		at := evs[i].at
		for ; i < len(evs) && evs[i].at.Equal(at); i++ {
			active[evs[i].key] += evs[i].delta
		}
		n := inUse(active, perHost)
		if last := &steps[len(steps)-1]; last.At.Equal(at) {
			last.InUse = n
		} else if last.InUse != n {
			steps = append(steps, step{at, n})
		}
	}
	return steps
}

// inUse counts the distinct GPUs the active keys hold.
func inUse(active map[string]int, perHost map[string]int) int {
	whole := map[string]bool{}
	some := map[string]int{}
	for key, n := range active {
		if n <= 0 {
			continue
		}
		host, id := "", key
		if i := strings.LastIndex(key, "/"); i >= 0 {
			host, id = key[:i], key[i+1:]
		}
		if id == "all" {
			whole[host] = true
		} else {
			some[host]++
		}
	}
	total := 0
	for host, n := range some {
		if !whole[host] {
			total += n
		}
	}
	for host := range whole {
		total += max(perHost[host], 1)
	}
	return total
}

// Geometry of the chart, in SVG user units; it scales to its box.
const (
	chartW, chartH           = 720, 220
	padL, padR, padT, padB   = 34, 12, 12, 30
	plotW, plotH             = chartW - padL - padR, chartH - padT - padB
	chartDays                = 7
	chartSpan                = chartDays * 24 * time.Hour
	chartTitle, chartDescFmt = "GPU occupancy, last 7 days", "%s Peak %d of %d GPUs in use; %d in use now."
)

// chartSVG draws the steps as an area under a step line, with a day grid:
// inline SVG made here, no script, titled and described for screen readers.
func chartSVG(steps []step, total int, from, now time.Time) template.HTML {
	peak := 0
	for _, s := range steps {
		peak = max(peak, s.InUse)
	}
	top := max(total, peak, 1)
	x := func(t time.Time) float64 { return padL + float64(plotW)*t.Sub(from).Seconds()/now.Sub(from).Seconds() }
	y := func(n int) float64 { return padT + float64(plotH)*(1-float64(n)/float64(top)) }
	var b strings.Builder
	current := steps[len(steps)-1].InUse
	lead := "This host has no GPUs."
	if total > 0 {
		lead = fmt.Sprintf("%d GPUs.", total)
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH)
	fmt.Fprintf(&b, `<title id="chart-title">%s</title><desc id="chart-desc">%s</desc>`, chartTitle,
		html.EscapeString(fmt.Sprintf(chartDescFmt, lead, peak, total, current)))
	// Horizontal grid: one line per GPU up to 8, else four.
	every := 1
	if top > 8 {
		every = (top + 3) / 4
	}
	for n := 0; n <= top; n += every {
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="axis" x="%d" y="%.1f" text-anchor="end">%d</text>`,
			padL, chartW-padR, y(n), y(n), padL-6, y(n)+4, n)
	}
	// Vertical grid at each midnight (UTC), labelled with the day.
	for d := from.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour); d.Before(now); d = d.Add(24 * time.Hour) {
		lx, anchor := x(d), "middle"
		if lx > chartW-padR-24 { // the last label would run off the edge
			lx, anchor = chartW-padR, "end"
		}
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/><text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`,
			x(d), x(d), padT, padT+plotH, lx, chartH-10, anchor, d.Format("Mon 2"))
	}
	var line strings.Builder
	fmt.Fprintf(&line, "M%.1f %.1f", x(from), y(steps[0].InUse))
	for _, s := range steps[1:] {
		fmt.Fprintf(&line, " H%.1f V%.1f", x(s.At), y(s.InUse))
	}
	fmt.Fprintf(&line, " H%.1f", x(now))
	fmt.Fprintf(&b, `<path class="area" d="%s V%.1f H%.1f Z"/>`, line.String(), y(0), x(from))
	fmt.Fprintf(&b, `<path class="line" d="%s"/>`, line.String())
	if total > 0 {
		fmt.Fprintf(&b, `<line class="cap" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(total), y(total))
	} else {
		fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d" text-anchor="middle">no GPUs on this host</text>`, padL+plotW/2, padT+plotH/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped text only
}
