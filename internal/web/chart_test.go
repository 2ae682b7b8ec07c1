package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd"
)

func TestOccupancy(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	from := now.Add(-chartSpan)
	h := func(n int) time.Time { return from.Add(time.Duration(n) * time.Hour) }
	gpus := []containers.GPUInfo{{GPU: lxd.GPU{ID: "0", PCI: "a"}}, {GPU: lxd.GPU{ID: "1", PCI: "b"}}, {GPU: lxd.GPU{ID: "2", PCI: "c"}}}
	spans := []containers.GPUSpan{
		{GPU: "a", Since: from.Add(-time.Hour), Until: h(10)},     // from before the window
		{GPU: "b", Since: h(5), Until: h(10)},                     // ends with a
		{GPU: "b", Since: h(6), Until: h(8)},                      // shared: b counts once
		{GPU: "all", Since: h(20), Until: h(22)},                  // every GPU
		{GPU: "c", Since: h(21)},                                  // still held
		{GPU: "a", Since: from.Add(-48 * time.Hour), Until: h(0)}, // over before the window
	}
	got := fmt.Sprint(occupancy(spans, gpus, from, now))
	want := fmt.Sprint([]step{{from, 1}, {h(5), 2}, {h(10), 0}, {h(20), 3}, {h(22), 1}})
	if got != want {
		t.Fatalf("steps\n got %s\nwant %s", got, want)
	}
}

func TestChartSVG(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	from := now.Add(-chartSpan)
	svg := string(chartSVG([]step{{from, 0}, {from.Add(time.Hour), 2}}, 4, from, now))
	for _, want := range []string{`role="img"`, "<title", "<desc", "Peak 2 of 4 GPUs in use; 2 in use now", `class="line"`, ">Wed 25<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q: %s", want, svg)
		}
	}
	empty := string(chartSVG([]step{{from, 0}}, 0, from, now))
	if !strings.Contains(empty, "no GPUs on this host") || !strings.Contains(empty, "This host has no GPUs") {
		t.Errorf("GPU-less chart: %s", empty)
	}
	if strings.Contains(svg, "<script") {
		t.Fatal("script in the chart")
	}
}
