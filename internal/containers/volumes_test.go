package containers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
)

const pool = "default"

// newVolumeService is newService with volumes configured: 1GiB by default,
// 4GiB at most, three volumes and 10GiB of disk a user.
func newVolumeService(t *testing.T, datasets map[string]Dataset) (*Service, *lxdtest.Fake, *users.Store) {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	us := users.New(db)
	for _, n := range []string{"alice", "bob"} {
		if _, err := us.Add(ctx, n, users.RoleUser, ""); err != nil {
			t.Fatal(err)
		}
	}
	fake := lxdtest.New()
	s := New(db, fake, Config{
		DefaultImage: "lxcgate-busybox", CPU: 1, Memory: 256 << 20, Disk: 1 << 30, Prefix: "lxcgate-",
		Quota:        Quota{Containers: 3, CPU: 4, Memory: 1 << 30, Disk: 10 << 30, Volumes: 3, Snapshots: 10},
		SnapshotKeep: 2,
		VolumePool:   pool, VolumeDefaultSize: 1 << 30, VolumeMaxSize: 4 << 30, Datasets: datasets,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return s, fake, us
}

func mustVolume(t *testing.T, s *Service, user, name string, size int64) {
	t.Helper()
	if _, err := s.CreateVolume(context.Background(), user, name, size); err != nil {
		t.Fatal(err)
	}
}

func TestVolumeLifecycle(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	v, err := s.CreateVolume(ctx, "alice", "data", 0)
	if err != nil || v.Size != 1<<30 || v.Owner != "alice" {
		t.Fatalf("create: %+v %v", v, err)
	}
	lv, _ := fake.Volumes(ctx, pool, "")
	if len(lv) != 1 || lv[0].Name != "lxcgate-alice.data" || lv[0].Owner != "alice" {
		t.Fatalf("in LXD: %+v", lv)
	}
	if _, err := s.CreateVolume(ctx, "alice", "data", 0); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second create: %v", err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
		t.Fatal(err)
	}
	a, err := s.AttachVolume(ctx, "alice", "data", "dev", "", false)
	if err != nil || a.Path != "/mnt/data" {
		t.Fatalf("attach: %+v %v", a, err)
	}
	if d := fake.VolumeDevices("lxcgate-alice", "dev")["vol.data"]; d.Source != "lxcgate-alice.data" || d.Path != "/mnt/data" || d.Pool != pool {
		t.Fatalf("device: %+v", d)
	}
	if _, err := s.AttachVolume(ctx, "alice", "data", "dev", "/srv/x", false); err == nil {
		t.Fatal("attached twice")
	}
	vs, err := s.ListVolumes(ctx, "alice")
	if err != nil || len(vs) != 1 || len(vs[0].Attached) != 1 || vs[0].Attached[0].Container != "dev" {
		t.Fatalf("list: %+v %v", vs, err)
	}
	if err := s.DeleteVolume(ctx, "alice", "data"); !errors.Is(err, ErrAttached) || !strings.Contains(err.Error(), "dev at /mnt/data") {
		t.Fatalf("delete while attached: %v", err)
	}
	checkResize(t, s, fake)
	if err := s.DetachVolume(ctx, "alice", "data", "dev"); err != nil {
		t.Fatal(err)
	}
	if err := s.DetachVolume(ctx, "alice", "data", "dev"); err == nil || !strings.Contains(err.Error(), "not attached") {
		t.Fatalf("second detach: %v", err)
	}
	if len(fake.VolumeDevices("lxcgate-alice", "dev")) != 0 {
		t.Fatal("device left after detach")
	}
	if err := s.DeleteVolume(ctx, "alice", "data"); err != nil {
		t.Fatal(err)
	}
	if lv, _ := fake.Volumes(ctx, pool, ""); len(lv) != 0 {
		t.Fatalf("left in LXD: %+v", lv)
	}
}

// checkResize grows alice's 1GiB "data" to 2GiB after refusing to shrink
// it or to pass the cap.
func checkResize(t *testing.T, s *Service, fake *lxdtest.Fake) {
	t.Helper()
	ctx := context.Background()
	if err := s.ResizeVolume(ctx, "alice", "data", 512<<20); err == nil || !strings.Contains(err.Error(), "only grow") {
		t.Fatalf("shrink: %v", err)
	}
	if err := s.ResizeVolume(ctx, "alice", "data", 8<<30); err == nil || !strings.Contains(err.Error(), "at most 4GiB") {
		t.Fatalf("past the cap: %v", err)
	}
	if err := s.ResizeVolume(ctx, "alice", "data", 2<<30); err != nil {
		t.Fatal(err)
	}
	if lv, _ := fake.Volumes(ctx, pool, ""); lv[0].Size != 2<<30 {
		t.Fatalf("resized in LXD: %+v", lv)
	}
}

// bob reaches none of alice's volumes by any spelling, and his own "data"
// is his.
func TestVolumeTenancy(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "data", 0)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "box", Start: true}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"data", "Data", "DATA", "alice.data", "lxcgate-alice.data", "../alice/data", "alice/data",
		"data/", "data%2f", "%2e%2e", "dаta", "data\x00", "lxcgate-alice", " data"} {
		checks := map[string]error{}
		_, checks["get"] = s.GetVolume(ctx, "bob", name)
		_, checks["attach"] = s.AttachVolume(ctx, "bob", name, "box", "", false)
		checks["detach"] = s.DetachVolume(ctx, "bob", name, "box")
		checks["resize"] = s.ResizeVolume(ctx, "bob", name, 3<<30)
		checks["delete"] = s.DeleteVolume(ctx, "bob", name)
		_, _, checks["snapshot"] = s.SnapshotVolume(ctx, "bob", name, "", false)
		_, checks["snapshots"] = s.VolumeSnapshots(ctx, "bob", name)
		checks["restore"] = s.RestoreVolume(ctx, "bob", name, "s1")
		_, checks["export"] = s.ExportVolume(ctx, "bob", name, io.Discard)
		_, checks["launch"] = s.Create(ctx, "bob", CreateRequest{Name: "x", Volumes: []VolumeMount{{Name: name}}})
		for op, err := range checks {
			if !errors.Is(err, ErrNoVolume) {
				t.Errorf("bob %s %q: %v", op, name, err)
			}
		}
	}
	// Nor may alice attach her volume to bob's container.
	if _, err := s.AttachVolume(ctx, "alice", "data", "box", "", false); !errors.Is(err, ErrNoSuch) {
		t.Fatalf("alice to bob's container: %v", err)
	}
	mustVolume(t, s, "bob", "data", 0)
	if _, err := s.AttachVolume(ctx, "bob", "data", "box", "", false); err != nil {
		t.Fatal(err)
	}
	if d := fake.VolumeDevices("lxcgate-bob", "box")["vol.data"]; d.Source != "lxcgate-bob.data" {
		t.Fatalf("bob's device names %+v", d)
	}
	if vs, _ := s.ListVolumes(ctx, "alice"); len(vs) != 1 || len(vs[0].Attached) != 0 {
		t.Fatalf("alice's list: %+v", vs)
	}
}

func TestVolumeNamesAndPaths(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newVolumeService(t, nil)
	for _, name := range []string{"", "1x", "a_b", "a.b", "a/b", "x-", strings.Repeat("a", 60), "é"} {
		if _, err := s.CreateVolume(ctx, "alice", name, 0); !errors.Is(err, ErrBadVolumeName) {
			t.Errorf("create %q: %v", name, err)
		}
	}
	mustVolume(t, s, "alice", "data", 0)
	mustVolume(t, s, "alice", "more", 0)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/proc", "/sys/x", "/dev", "/run/x", "/etc", "/boot/efi", "rel", "/mnt/../etc", "/mnt//x"} {
		if _, err := s.AttachVolume(ctx, "alice", "data", "dev", p, false); err == nil {
			t.Errorf("attach at %q accepted", p)
		}
	}
	if _, err := s.AttachVolume(ctx, "alice", "data", "dev", "/work", false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/work", "/work/sub", "/"} {
		if _, err := s.AttachVolume(ctx, "alice", "more", "dev", p, false); err == nil {
			t.Errorf("second mount at %q accepted", p)
		}
	}
	if _, err := s.CreateVolume(ctx, "alice", "huge", 5<<30); err == nil || !strings.Contains(err.Error(), "at most 4GiB") {
		t.Fatalf("past the cap: %v", err)
	}
}

func TestVolumeQuota(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	// 10GiB of disk: a 1GiB root disk and 4+4GiB of volumes leave 1GiB.
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	mustVolume(t, s, "alice", "a", 4<<30)
	mustVolume(t, s, "alice", "b", 4<<30)
	_, err := s.CreateVolume(ctx, "alice", "c", 2<<30)
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "disk would be 11GiB, your limit is 10GiB (in use: 9GiB") {
		t.Fatalf("disk: %v", err)
	}
	if err := s.ResizeVolume(ctx, "alice", "a", 4<<30+2<<30); err == nil {
		t.Fatal("grew past the disk quota")
	}
	mustVolume(t, s, "alice", "c", 1<<30)
	_, err = s.CreateVolume(ctx, "alice", "d", 1<<20)
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "volumes would be 4, your limit is 3 (in use: 3)") {
		t.Fatalf("count: %v", err)
	}
	// A container's disk counts the volumes too.
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "more"}); !errors.Is(err, ErrQuota) {
		t.Fatalf("container past disk: %v", err)
	}
	if lv, _ := fake.Volumes(ctx, pool, ""); len(lv) != 3 {
		t.Fatalf("refusals made volumes: %+v", lv)
	}
	_, use, _ := s.Quota(ctx, "alice")
	if use.Volumes != 3 || use.Disk != 10<<30 {
		t.Fatalf("use: %+v", use)
	}
}

// A volume outlives its container: delete detaches and keeps it, and a new
// container gets it, data and all.
func TestVolumeOutlivesContainer(t *testing.T) {
	ctx := context.Background()
	s, fake, us := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "data", 0)
	_, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true, Volumes: []VolumeMount{{Name: "data", Path: "/work"}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := fake.VolumeDevices("lxcgate-alice", "dev")["vol.data"]; d.Path != "/work" {
		t.Fatalf("launch device: %+v", d)
	}
	if err := fake.WriteVolume(pool, "lxcgate-alice.data", []byte("results")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "alice", "dev", true); err != nil {
		t.Fatal(err)
	}
	vs, _ := s.ListVolumes(ctx, "alice")
	if len(vs) != 1 || len(vs[0].Attached) != 0 {
		t.Fatalf("after delete: %+v", vs)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "next", Volumes: []VolumeMount{{Name: "data", ReadOnly: true}}}); err != nil {
		t.Fatal(err)
	}
	if d := fake.VolumeDevices("lxcgate-alice", "next")["vol.data"]; d.Path != "/mnt/data" || !d.ReadOnly {
		t.Fatalf("second device: %+v", d)
	}
	if data, _ := fake.VolumeData(pool, "lxcgate-alice.data"); string(data) != "results" {
		t.Fatalf("data: %q", data)
	}
	// user del is refused while alice owns volumes.
	if err := s.Delete(ctx, "alice", "next", true); err != nil {
		t.Fatal(err)
	}
	if err := us.Delete(ctx, "alice"); !errors.Is(err, users.ErrOwnsVolumes) {
		t.Fatalf("user del: %v", err)
	}
	if err := s.DeleteVolume(ctx, "alice", "data"); err != nil {
		t.Fatal(err)
	}
	if err := us.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
}

// A launch asking for a volume that is not there, or twice at one path,
// makes nothing.
func TestVolumeLaunchRefusals(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "data", 0)
	mustVolume(t, s, "alice", "more", 0)
	for _, req := range []CreateRequest{
		{Name: "dev", Volumes: []VolumeMount{{Name: "nope"}}},
		{Name: "dev", Volumes: []VolumeMount{{Name: "data", Path: "/x"}, {Name: "more", Path: "/x/y"}}},
		{Name: "dev", Volumes: []VolumeMount{{Name: "data"}, {Name: "data", Path: "/y"}}},
		{Name: "dev", Volumes: []VolumeMount{{Name: "data", Path: "/etc"}}},
	} {
		if _, err := s.Create(ctx, "alice", req); err == nil {
			t.Errorf("launch %+v accepted", req.Volumes)
		}
	}
	if fake.Count() != 0 {
		t.Fatal("a refused launch made an instance")
	}
	if cs, _ := s.List(ctx, "alice", false); len(cs) != 0 {
		t.Fatalf("rows: %+v", cs)
	}
}

// A clone gets no attachments, though LXD's copy keeps its source's
// devices.
func TestCloneDropsVolumes(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "data", 0)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Volumes: []VolumeMount{{Name: "data"}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TakeSnapshot(ctx, "alice", "dev", "s1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clone(ctx, "alice", "dev", "s1", "copy", ""); err != nil {
		t.Fatal(err)
	}
	if d := fake.VolumeDevices("lxcgate-alice", "copy"); len(d) != 0 {
		t.Fatalf("clone kept %+v", d)
	}
	if vs, _ := s.ListVolumes(ctx, "alice"); len(vs[0].Attached) != 1 {
		t.Fatalf("attachments: %+v", vs)
	}
}

func TestVolumeSnapshotsAndExport(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "data", 0)
	lname := "lxcgate-alice.data"
	_ = fake.WriteVolume(pool, lname, []byte("v1"))
	if _, _, err := s.SnapshotVolume(ctx, "alice", "data", "first", true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, _, err := s.SnapshotVolume(ctx, "alice", "data", n, false); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := s.VolumeSnapshots(ctx, "alice", "data")
	if err != nil || len(snaps) != 3 || snaps[0].Name != "first" || !snaps[0].Pinned || snaps[1].Name != "b" {
		t.Fatalf("pruned to %+v %v", snaps, err)
	}
	_ = fake.WriteVolume(pool, lname, []byte("v2"))
	if err := s.RestoreVolume(ctx, "alice", "data", "first"); err != nil {
		t.Fatal(err)
	}
	if err := s.RestoreVolume(ctx, "alice", "data", "gone"); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("restore of nothing: %v", err)
	}
	var buf bytes.Buffer
	if _, err := s.ExportVolume(ctx, "alice", "data", &buf); err != nil {
		t.Fatal(err)
	}
	// Imported as bob's: the owner is the importer's, whatever the stream.
	v, err := s.ImportVolume(ctx, "bob", "copy", bytes.NewReader(buf.Bytes()))
	if err != nil || v.Owner != "bob" {
		t.Fatalf("import: %+v %v", v, err)
	}
	if data, _ := fake.VolumeData(pool, "lxcgate-bob.copy"); string(data) != "v1" {
		t.Fatalf("imported %q", data)
	}
	if lv, _ := fake.Volumes(ctx, pool, "lxcgate-bob."); lv[0].Owner != "bob" {
		t.Fatalf("owner key: %+v", lv)
	}
	if _, err := s.ImportVolume(ctx, "bob", "junk", strings.NewReader("not a backup")); err == nil {
		t.Fatal("junk imported")
	}
	if vs, _ := s.ListVolumes(ctx, "bob"); len(vs) != 1 {
		t.Fatalf("a failed import left %+v", vs)
	}
}

// Sizes at the edge of int64 are refused by the quota, without overflow,
// when no cap applies.
func TestVolumeHugeSizes(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	c := *s.conf()
	c.VolumeMaxSize = 0
	s.cfg.Store(&c)
	mustVolume(t, s, "alice", "data", 0)
	for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 1, 1 << 62} {
		if _, err := s.CreateVolume(ctx, "alice", "x", size); !errors.Is(err, ErrQuota) {
			t.Errorf("create %d: %v", size, err)
		}
		if err := s.ResizeVolume(ctx, "alice", "data", size); !errors.Is(err, ErrQuota) {
			t.Errorf("resize %d: %v", size, err)
		}
	}
	if _, err := s.CreateVolume(ctx, "alice", "x", -1); err == nil {
		t.Error("a negative size")
	}
	if lv, _ := fake.Volumes(ctx, pool, ""); len(lv) != 1 || lv[0].Size != 1<<30 {
		t.Fatalf("LXD: %+v", lv)
	}
}

// An import takes its tarball's size under the disk quota: one too large
// is refused and nothing kept; one with no size gets the size reserved.
func TestImportSizeAndQuota(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "big", 4<<30)
	var exp bytes.Buffer
	if _, err := s.ExportVolume(ctx, "alice", "big", &exp); err != nil {
		t.Fatal(err)
	}
	mustVolume(t, s, "bob", "a", 4<<30)
	mustVolume(t, s, "bob", "b", 3<<30)
	_, err := s.ImportVolume(ctx, "bob", "copy", bytes.NewReader(exp.Bytes()))
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "nothing was kept") {
		t.Fatalf("import past the disk quota: %v", err)
	}
	if lv, _ := fake.Volumes(ctx, pool, "lxcgate-bob."); len(lv) != 2 {
		t.Fatalf("left: %+v", lv)
	}
	if err := s.DeleteVolume(ctx, "bob", "b"); err != nil {
		t.Fatal(err)
	}
	v, err := s.ImportVolume(ctx, "bob", "copy", bytes.NewReader(exp.Bytes()))
	if err != nil || v.Size != 4<<30 {
		t.Fatalf("import: %+v %v", v, err)
	}
	if _, use, _ := s.Quota(ctx, "bob"); use.Disk != 8<<30 {
		t.Fatalf("bob's disk: %d", use.Disk)
	}
	// A tarball without a size (the fake's header says 0) gets the default.
	noSize := []byte("lxdtest-volume-backup size=0\nraw")
	if v, err := s.ImportVolume(ctx, "alice", "raw", bytes.NewReader(noSize)); err != nil || v.Size != 1<<30 {
		t.Fatalf("import without a size: %+v %v", v, err)
	}
	if lv, _ := fake.Volumes(ctx, pool, "lxcgate-alice.raw"); lv[0].Size != 1<<30 || lv[0].Owner != "alice" {
		t.Fatalf("in LXD: %+v", lv)
	}
}

// On a single host a volume has no member, and --host is refused.
func TestVolumeHostOnOneHost(t *testing.T) {
	s, _, _ := newVolumeService(t, nil)
	if v, err := s.CreateVolumeOn(context.Background(), "alice", "a", "", 0); err != nil || v.Host != "" {
		t.Fatalf("%+v %v", v, err)
	}
	if _, err := s.CreateVolumeOn(context.Background(), "alice", "b", "member1", 0); err == nil || !strings.Contains(err.Error(), "not a cluster") {
		t.Fatalf("--host on one host: %v", err)
	}
}

// A hostile import streams more than any volume of theirs could hold: the
// stream is capped at the largest volume the caller may keep, and a read
// past the cap fails with a quota error.
func TestImportStreamIsCapped(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newVolumeService(t, nil)
	mustVolume(t, s, "bob", "a", 4<<30)
	// bob's 10 GiB disk holds 4 GiB and the import's 1 GiB reservation:
	// room 6 GiB, but max_size is 4 GiB.
	if got, want := s.importCap(ctx, "bob", 1<<30), int64(4<<30+(4<<30)/64+1<<20); got != want {
		t.Fatalf("bob's cap: %d, want %d", got, want)
	}
	mustVolume(t, s, "bob", "b", 4<<30)
	if got, want := s.importCap(ctx, "bob", 1<<30), int64(3<<30+(3<<30)/64+1<<20); got != want {
		t.Fatalf("bob's cap with 8 GiB used: %d, want %d", got, want)
	}
	c := &cappedReader{r: zeroes{}, left: 1 << 20, max: 1 << 20}
	n, err := io.Copy(io.Discard, c)
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "the most you may import") || n > 1<<20+1 {
		t.Fatalf("endless stream: %d bytes, %v", n, err)
	}
}

// zeroes is an endless stream of zero bytes.
type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
