package nvsmi

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Outputs of three hosts, kept as fixtures: one without a driver, four
// A100s, and two H200s, the first split into MIG devices.
func TestFixtures(t *testing.T) {
	if _, err := ParseQuery(fixture(t, "nogpu-query.txt")); !errors.Is(err, ErrNoDriver) {
		t.Fatalf("no driver: %v", err)
	}
	gs, err := ParseQuery(fixture(t, "a100x4-query.txt"))
	if err != nil || len(gs) != 4 {
		t.Fatalf("4 A100s: %+v %v", gs, err)
	}
	if g := gs[1]; g.PCI != "0000:0f:00.0" || g.Util != 0 || g.MemUsed != 4<<20 || g.MemTotal != 40960<<20 || g.Name != "NVIDIA A100-SXM4-40GB" {
		t.Fatalf("gpu 1: %+v", g)
	}
	ls, err := ParseList(fixture(t, "a100x4-list.txt"))
	if err != nil || len(ls) != 4 || len(ls[3].MIG) != 0 || ls[3].UUID != gs[3].UUID {
		t.Fatalf("-L of 4 A100s: %+v %v", ls, err)
	}
	hs, err := ParseQuery(fixture(t, "h200mig-query.txt"))
	if err != nil || len(hs) != 2 || hs[0].Util != -1 || hs[1].Util != 64 {
		t.Fatalf("2 H200s: %+v %v", hs, err)
	}
	ls, err = ParseList(fixture(t, "h200mig-list.txt"))
	if err != nil || len(ls) != 2 || len(ls[0].MIG) != 4 || len(ls[1].MIG) != 0 {
		t.Fatalf("-L of MIG H200s: %+v %v", ls, err)
	}
	if m := ls[0].MIG[2]; m.Profile != "1g.18gb" || m.Device != 2 || !strings.HasPrefix(m.UUID, "MIG-2a3b") || m.Slices() != 1 || ls[0].MIG[0].Slices() != 3 {
		t.Fatalf("MIG device: %+v", m)
	}
	for _, bad := range []string{"0, x\n", "a, b, c, d, e, f, g\n"} {
		if _, err := ParseQuery(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseList("  MIG 1g.18gb Device 0: (UUID: MIG-1)\n"); err == nil {
		t.Error("a MIG device before its GPU accepted")
	}
}

// Read merges the query and the listing; without a driver it reports
// no GPUs rather than an error.
func TestRead(t *testing.T) {
	run := func(query, list string) Run {
		return func(_ context.Context, _ string, args ...string) ([]byte, error) {
			if args[0] == "-L" {
				return []byte(fixture(t, list)), nil
			}
			return []byte(fixture(t, query)), nil
		}
	}
	gs, err := Read(context.Background(), run("h200mig-query.txt", "h200mig-list.txt"))
	if err != nil || len(gs) != 2 || len(gs[0].MIG) != 4 || gs[0].PCI != "0000:19:00.0" {
		t.Fatalf("read: %+v %v", gs, err)
	}
	noDriver := func(context.Context, string, ...string) ([]byte, error) {
		return []byte(fixture(t, "nogpu-query.txt")), errors.New("exit status 9")
	}
	if gs, err := Read(context.Background(), noDriver); gs != nil || err != nil {
		t.Fatalf("no driver: %+v %v", gs, err)
	}
}
