package quota

import (
	"bytes"
	"errors"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// The summary is what 'quota' has always printed, with the volumes line
// (issue 21) before the cluster group.
func TestPrint(t *testing.T) {
	q := Quota{Containers: 3, CPU: 8, Memory: 16 << 30, Disk: 50 << 30, GPUs: 1, Ports: 3, Snapshots: 20, Volumes: 5, Hosts: "a100"}
	use := Quota{Containers: 1, CPU: 2, Memory: 1 << 30, Disk: 10 << 30, Volumes: 1}
	var b bytes.Buffer
	if err := Print(&b, "alice", q, use); err != nil {
		t.Fatal(err)
	}
	want := `quota of alice (in use / limit):
  containers  1 / 3
  cpu         2 / 8
  memory      1GiB / 16GiB
  disk        10GiB / 50GiB
  gpus        0 / 1
  snapshots   20 at most
  ports       3 added per container at most
  volumes     1 / 5
  hosts       cluster group a100
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestChangeOverAndValidate(t *testing.T) {
	def := Quota{Containers: 3, CPU: 8, Memory: 16 << 30, Hosts: "x"}
	c := Change{CPU: ptr(2), Disk: ptr(int64(5)), Hosts: ptr("")}
	got := c.Over(def)
	if got != (Quota{Containers: 3, CPU: 2, Memory: 16 << 30, Disk: 5}) {
		t.Fatalf("over: %+v", got)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Change{Memory: ptr(int64(-1))}).Validate(); !errors.Is(err, ErrNegative) {
		t.Fatalf("negative memory: %v", err)
	}
	var set Change
	for _, f := range Fields {
		f.Set(&set, 7)
		if v, ok := f.Changed(set); f.Kind != Group && (!ok || v != 7) {
			t.Errorf("%s: %d %v", f.Name, v, ok)
		}
	}
}
