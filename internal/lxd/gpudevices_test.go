package lxd

import (
	"maps"
	"slices"
	"testing"
)

type devs = map[string]map[string]string

// rewriteGPUsCase is one row of TestRewriteGPUs: a container's profiles and
// devices, the GPUs it is booked for, and what RewriteGPUs should make of it.
type rewriteGPUsCase struct {
	name          string
	profiles      []string
	own, expanded devs
	want          GPUWant
	wantProf      []string
	wantOwn       devs
	changed       bool
}

func rewriteGPUsCases() []rewriteGPUsCase {
	gpu0 := map[string]string{"type": "gpu", "gputype": "physical", "pci": "0000:01:00.0"}
	gpu1 := map[string]string{"type": "gpu", "gputype": "physical", "pci": "0000:02:00.0"}
	all := map[string]string{"type": "gpu", "gputype": "physical"}
	eth := map[string]string{"type": "nic", "network": "lxdbr0"}
	none := map[string]string{"type": "none"}
	return []rewriteGPUsCase{
		{
			// A clone of a container that held GPU 0, booked for none.
			name:     "inherited own device goes",
			profiles: []string{"default"}, own: devs{"gpu-0000-01-00-0": gpu0, "eth0": eth},
			expanded: devs{"gpu-0000-01-00-0": gpu0, "eth0": eth},
			want:     GPUWant{Profile: "nv"}, wantProf: []string{"default"}, wantOwn: devs{"eth0": eth}, changed: true,
		},
		{
			name:     "booked device stays, short form",
			profiles: []string{"default"}, own: devs{"gpu-0000-01-00-0": gpu0}, expanded: devs{"gpu-0000-01-00-0": gpu0},
			want:     GPUWant{Profile: "nv", Devices: map[string]string{"gpu-0000-01-00-0": "01:00.0"}},
			wantProf: []string{"default"}, wantOwn: devs{"gpu-0000-01-00-0": gpu0},
		},
		{
			name:     "GPU profile detached",
			profiles: []string{"default", "nv"}, own: devs{}, expanded: devs{"gpu": all},
			want: GPUWant{Profile: "nv"}, wantProf: []string{"default"}, wantOwn: devs{}, changed: true,
		},
		{
			name:     "another profile's GPU masked",
			profiles: []string{"default"}, own: devs{}, expanded: devs{"card": gpu1},
			want: GPUWant{Profile: "nv"}, wantProf: []string{"default"}, wantOwn: devs{"card": none}, changed: true,
		},
		{
			// A renew gives back what expiry took.
			name:     "booked device and profile added",
			profiles: []string{"default"}, own: devs{"gpu": none}, expanded: devs{},
			want:     GPUWant{Profile: "nv", All: true, Devices: map[string]string{"gpu-0000-02-00-0": "0000:02:00.0"}},
			wantProf: []string{"default", "nv"}, wantOwn: devs{"gpu-0000-02-00-0": gpu1}, changed: true,
		},
		{
			name:     "wrong GPU under a booked name replaced",
			profiles: []string{"default"}, own: devs{"gpu-0000-02-00-0": gpu0}, expanded: devs{"gpu-0000-02-00-0": gpu0},
			want:     GPUWant{Profile: "nv", Devices: map[string]string{"gpu-0000-02-00-0": "0000:02:00.0"}},
			wantProf: []string{"default"}, wantOwn: devs{"gpu-0000-02-00-0": gpu1}, changed: true,
		},
	}
}

func TestRewriteGPUs(t *testing.T) {
	for _, tc := range rewriteGPUsCases() {
		t.Run(tc.name, func(t *testing.T) {
			own := maps.Clone(tc.own)
			prof, got, changed := RewriteGPUs(tc.profiles, tc.own, tc.expanded, tc.want)
			if changed != tc.changed || !slices.Equal(prof, tc.wantProf) || !maps.EqualFunc(got, tc.wantOwn, maps.Equal) {
				t.Errorf("got %v %v %v, want %v %v %v", prof, got, changed, tc.wantProf, tc.wantOwn, tc.changed)
			}
			if !maps.EqualFunc(own, tc.own, maps.Equal) {
				t.Error("the input was changed")
			}
		})
	}
}
