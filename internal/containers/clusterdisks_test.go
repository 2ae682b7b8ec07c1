package containers

import (
	"context"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
)

// clusterWithDatasets is newCluster (member2 has the most free memory)
// with volumes and two datasets whose sources are on no path of this
// host: imagenet on member1 only, and the default dataset cache on
// member1 and member3.
func clusterWithDatasets(t *testing.T) (*Service, *lxdtest.Fake) {
	t.Helper()
	s, fake := newCluster(t)
	c := *s.conf()
	c.VolumePool, c.VolumeDefaultSize, c.Quota.Volumes = pool, 1<<30, 3
	c.Datasets = map[string]Dataset{
		"imagenet": {Source: "/nonexistent/imagenet", Path: "/data/imagenet", Members: []string{"member1"}},
		"cache":    {Source: "/nonexistent/cache", Path: "/cache", Default: true, Members: []string{"member1", "member3"}},
	}
	s.cfg.Store(&c)
	return s, fake
}

// nothingMade fails unless user has no container.
func nothingMade(t *testing.T, s *Service, user string) {
	t.Helper()
	if list, err := s.List(context.Background(), user, false); err != nil || len(list) != 0 {
		t.Fatalf("a refused launch left %+v %v", list, err)
	}
}

// A dataset asked for takes the container to its members, though another
// member has more free memory; a default one steers where it can and is
// left out, said so, where it cannot.
func TestDatasetPlacement(t *testing.T) {
	ctx := context.Background()
	s, fake := clusterWithDatasets(t)
	ct, err := s.Create(ctx, "alice", CreateRequest{Name: "a", Datasets: []string{"imagenet"}})
	if err != nil || ct.Host != "member1" {
		t.Fatalf("placed %+v %v", ct, err)
	}
	ds := fake.VolumeDevices("lxcgate-alice", "a")
	if ds["ds.imagenet"].Source != "/nonexistent/imagenet" || ds["ds.cache"].Path != "/cache" || !ds["ds.imagenet"].ReadOnly {
		t.Fatalf("devices: %+v", ds)
	}
	// Without --dataset the default one steers: member3, not member2.
	ct, err = s.Create(ctx, "alice", CreateRequest{Name: "b"})
	if err != nil || ct.Host != "member3" {
		t.Fatalf("default dataset steers: %+v %v", ct, err)
	}
	var notes []string
	ct, err = s.Create(ctx, "bob", CreateRequest{Name: "c", Host: "member2", Progress: func(p string) { notes = append(notes, p) }})
	if err != nil || ct.Host != "member2" || len(fake.VolumeDevices("lxcgate-bob", "c")) != 0 ||
		!strings.Contains(strings.Join(notes, "\n"), "Dataset cache left out: it is not on member2") {
		t.Fatalf("--host without the default dataset: %+v %v %v %+v", ct, err, notes, fake.VolumeDevices("lxcgate-bob", "c"))
	}
}

// Every way a launch with a dataset can miss its members is refused in one
// line naming the dataset and its members, and makes nothing.
func TestDatasetPlacementRefusals(t *testing.T) {
	ctx := context.Background()
	s, fake := clusterWithDatasets(t)
	mustVolume(t, s, "alice", "data", 0)
	_ = fake.SetVolumeMember(pool, "lxcgate-alice.data", "member2")
	for _, tc := range []struct {
		req  CreateRequest
		want []string
	}{
		{CreateRequest{Name: "h", Host: "member3", Datasets: []string{"imagenet"}},
			[]string{"dataset imagenet is only on member1, not on member3"}},
		{CreateRequest{Name: "v", Volumes: []VolumeMount{{Name: "data"}}, Datasets: []string{"imagenet"}},
			[]string{"dataset imagenet is only on member1", "volume data lives on member2"}},
		{CreateRequest{Name: "v2", Host: "member2", Volumes: []VolumeMount{{Name: "data"}}, Datasets: []string{"imagenet"}},
			[]string{"dataset imagenet is only on member1, not on member2"}},
	} {
		_, err := s.Create(ctx, "alice", tc.req)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%+v: %v, want %q", tc.req, err, w)
			}
		}
	}
	nothingMade(t, s, "alice")
	g := "gpu"
	if _, err := s.SetQuota(ctx, "bob", QuotaChange{Hosts: &g}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Create(ctx, "bob", CreateRequest{Name: "g", Datasets: []string{"imagenet"}})
	if err == nil || !strings.Contains(err.Error(), "dataset imagenet is only on member1, and no member you may use there") {
		t.Fatalf("outside the user's group: %v", err)
	}
	fake.SetOnline("member1", false)
	_, err = s.Create(ctx, "alice", CreateRequest{Name: "o", Datasets: []string{"imagenet"}})
	if err == nil || !strings.Contains(err.Error(), "dataset imagenet is only on member1, and no member") {
		t.Fatalf("its member offline: %v", err)
	}
	nothingMade(t, s, "alice")
	nothingMade(t, s, "bob")
	// bob may not use a dataset of others' by asking for it: no such one.
	c := *s.conf()
	c.Datasets["imagenet"] = Dataset{Source: "/x", Path: "/x", Members: []string{"member1"}, Users: []string{"alice"}}
	s.cfg.Store(&c)
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "n", Datasets: []string{"imagenet"}}); err == nil ||
		!strings.Contains(err.Error(), "no such dataset") {
		t.Fatalf("another's dataset: %v", err)
	}
}

// On a single host members are ignored: the source is looked for here.
func TestDatasetMembersIgnoredOnOneHost(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, fake, _ := newVolumeService(t, map[string]Dataset{
		"here":    {Source: dir, Path: "/data/here", Members: []string{"member9"}},
		"missing": {Source: dir + "/nope", Path: "/data/nope", Members: []string{"member9"}},
	})
	if err := s.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", Datasets: []string{"here"}}); err != nil {
		t.Fatal(err)
	}
	if d := fake.VolumeDevices("lxcgate-alice", "a")["ds.here"]; d.Source != dir {
		t.Fatalf("device: %+v", d)
	}
	_, err := s.Create(ctx, "alice", CreateRequest{Name: "b", Datasets: []string{"missing"}})
	if err == nil || !strings.Contains(err.Error(), "its source is missing") {
		t.Fatalf("missing source: %v", err)
	}
}

// In a cluster a new volume goes where a container of its owner would
// (member2: the most free memory; member3 for a user held to group gpu),
// or on the member asked for, checked as --host is.
func TestVolumeMember(t *testing.T) {
	ctx := context.Background()
	s, fake := clusterWithDatasets(t)
	v, err := s.CreateVolumeOn(ctx, "alice", "a", "", 0)
	if err != nil || v.Host != "member2" {
		t.Fatalf("placed %+v %v", v, err)
	}
	if v, err := s.CreateVolumeOn(ctx, "alice", "b", "member1", 0); err != nil || v.Host != "member1" {
		t.Fatalf("--host member1: %+v %v", v, err)
	}
	lvs, _ := fake.Volumes(ctx, pool, "lxcgate-alice.")
	if len(lvs) != 2 || lvs[0].Location != "member2" || lvs[1].Location != "member1" {
		t.Fatalf("LXD has %+v", lvs)
	}
	g := "gpu"
	if _, err := s.SetQuota(ctx, "bob", QuotaChange{Hosts: &g}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.CreateVolumeOn(ctx, "bob", "c", "", 0); err != nil || v.Host != "member3" {
		t.Fatalf("bob held to group gpu: %+v %v", v, err)
	}
	for _, host := range []string{"member1", "nosuch", "member1; rm"} {
		if _, err := s.CreateVolumeOn(ctx, "bob", "d", host, 0); err == nil {
			t.Errorf("--host %q taken", host)
		}
	}
	if vs, _ := s.ListVolumes(ctx, "bob"); len(vs) != 1 {
		t.Fatalf("a refused create left %+v", vs)
	}
	// Then a launch with the volume follows it, and says so.
	ct, err := s.Create(ctx, "bob", CreateRequest{Name: "x", Volumes: []VolumeMount{{Name: "c"}}})
	if err != nil || ct.Host != "member3" || ct.Placement != "where volume c lives" {
		t.Fatalf("launch with the volume: %+v %v", ct, err)
	}
}

// In a cluster the personal volume is made on the first container's
// member, and later containers follow it there.
func TestPersonalVolumeInACluster(t *testing.T) {
	ctx := context.Background()
	s, fake := clusterWithDatasets(t)
	c := *s.conf()
	c.PersonalPath, c.Datasets = "/home/ubuntu/persist", nil
	s.cfg.Store(&c)
	if ct, err := s.Create(ctx, "alice", CreateRequest{Name: "one", Host: "member1"}); err != nil || ct.Host != "member1" {
		t.Fatalf("first: %+v %v", ct, err)
	}
	if lvs, _ := fake.Volumes(ctx, pool, "lxcgate-alice."); len(lvs) != 1 || lvs[0].Location != "member1" {
		t.Fatalf("home: %+v", lvs)
	}
	ct, err := s.Create(ctx, "alice", CreateRequest{Name: "two"})
	if err != nil || ct.Host != "member1" || ct.Placement != "where volume home lives" {
		t.Fatalf("second: %+v %v", ct, err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "three", Host: "member2"}); err == nil ||
		!strings.Contains(err.Error(), "volume home lives on member1, not member2") {
		t.Fatalf("--host away from home: %v", err)
	}
}
