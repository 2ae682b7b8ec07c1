package containers

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
)

// Every state a kill can leave is settled by the next reconcile: no
// orphan volume, no half-attached device, no stale row.
func TestVolumeReconcileAfterKills(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
		t.Fatal(err)
	}
	uid, _ := s.st.Users.ID(ctx, s.db, "alice")
	row := func(name, state string) store.VolumeID {
		id, err := s.st.Volumes.Insert(ctx, s.db, store.Volume{UserID: uid, Name: name, Size: 1 << 30, State: state, Created: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Killed after the reservation: a row, no volume.
	row("reserved", store.StateCreating)
	// Killed after LXD made it: both, the row still "creating".
	row("made", store.StateCreating)
	_ = fake.CreateVolume(ctx, pool, "lxcgate-alice.made", 1<<30, "alice", "")
	// Killed in a delete: marked, the volume still there.
	row("deleting", store.StateDeleting)
	_ = fake.CreateVolume(ctx, pool, "lxcgate-alice.deleting", 1<<30, "alice", "")
	// Killed in a resize: the row says 2GiB, LXD still 1GiB.
	grown := row("grown", store.StateReady)
	_ = s.st.Volumes.SetSize(ctx, s.db, grown, 2<<30)
	_ = fake.CreateVolume(ctx, pool, "lxcgate-alice.grown", 1<<30, "alice", "")
	// Killed in an attach before the device: a row "attaching", no device.
	half := row("half", store.StateReady)
	_ = fake.CreateVolume(ctx, pool, "lxcgate-alice.half", 1<<30, "alice", "")
	dev, _ := s.lookup(ctx, "alice", "dev")
	_ = s.st.Volumes.Attach(ctx, s.db, store.Attachment{VolumeID: half, ContainerID: dev.ID, Path: "/half", State: store.AttachAttaching})
	// Killed in a detach after marking: the device still there.
	gone := row("leaving", store.StateReady)
	_ = fake.CreateVolume(ctx, pool, "lxcgate-alice.leaving", 1<<30, "alice", "")
	_ = fake.SetDisk(ctx, "lxcgate-alice", "dev", "vol.leaving", lxd.Disk{Pool: pool, Source: "lxcgate-alice.leaving", Path: "/leaving"})
	_ = s.st.Volumes.Attach(ctx, s.db, store.Attachment{VolumeID: gone, ContainerID: dev.ID, Path: "/leaving", State: store.AttachDetaching})

	if err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	vs, _ := s.ListVolumes(ctx, "alice")
	got := map[string]Volume{}
	for _, v := range vs {
		got[v.Name] = v
	}
	if len(got) != 4 || got["made"].State != "ready" || got["grown"].Size != 1<<30 || len(got["half"].Attached) != 0 || len(got["leaving"].Attached) != 0 {
		t.Fatalf("after reconcile: %+v", vs)
	}
	if lv, _ := fake.Volumes(ctx, pool, ""); len(lv) != 4 {
		t.Fatalf("LXD volumes: %+v", lv)
	}
	if d := fake.VolumeDevices("lxcgate-alice", "dev"); len(d) != 0 {
		t.Fatalf("devices: %+v", d)
	}
}

// A gateway that lost its database gets its volumes back with their owners
// and attachments; a volume whose owner key disagrees with its name, and a
// device naming another user's volume, are not taken.
func TestVolumeReconcileAfterLostDatabase(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "data", 0)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true, Volumes: []VolumeMount{{Name: "data", Path: "/work"}}}); err != nil {
		t.Fatal(err)
	}
	_ = fake.CreateVolume(ctx, pool, "lxcgate-bob.claimed", 1<<30, "alice", "")
	_ = fake.CreateVolume(ctx, pool, "lxcgate-bob.secret", 1<<30, "bob", "")
	_ = fake.SetDisk(ctx, "lxcgate-alice", "dev", "vol.secret", lxd.Disk{Pool: pool, Source: "lxcgate-bob.secret", Path: "/steal"})

	s2, _, _ := newVolumeService(t, nil)
	s2.lxd = fake
	if err := s2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	vs, _ := s2.ListVolumes(ctx, "alice")
	if len(vs) != 1 || vs[0].Name != "data" || len(vs[0].Attached) != 1 || vs[0].Attached[0].Path != "/work" {
		t.Fatalf("alice after a lost database: %+v", vs)
	}
	bobs, _ := s2.ListVolumes(ctx, "bob")
	if len(bobs) != 1 || bobs[0].Name != "secret" {
		t.Fatalf("bob's: %+v", bobs)
	}
	if _, ok := fake.VolumeDevices("lxcgate-alice", "dev")["vol.secret"]; ok {
		t.Fatal("a device naming bob's volume stayed in alice's container")
	}
}

func TestDatasets(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	s, fake, _ := newVolumeService(t, map[string]Dataset{
		"imagenet": {Source: src, Path: "/data/imagenet", Default: true},
		"private":  {Source: src, Path: "/data/private", Users: []string{"bob"}},
		"missing":  {Source: src + "/nope", Path: "/data/missing"},
	})
	if ds := s.Datasets("alice"); len(ds) != 2 || ds[0].Name != "imagenet" || ds[1].Name != "missing" {
		t.Fatalf("alice's datasets: %+v", ds)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	d := fake.VolumeDevices("lxcgate-alice", "dev")["ds.imagenet"]
	if d.Source != src || d.Path != "/data/imagenet" || !d.ReadOnly {
		t.Fatalf("default dataset: %+v", d)
	}
	for _, ds := range []string{"private", "missing", "nope", "../etc"} {
		_, err := s.Create(ctx, "alice", CreateRequest{Name: "x", Datasets: []string{ds}})
		if err == nil {
			t.Errorf("dataset %s accepted", ds)
		}
		if ds == "missing" && !strings.Contains(err.Error(), "source is missing") {
			t.Errorf("missing: %v", err)
		}
	}
	if fake.Count() != 1 {
		t.Fatal("a refused launch made an instance")
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "box", Datasets: []string{"private"}}); err != nil {
		t.Fatal(err)
	}
	if len(fake.VolumeDevices("lxcgate-bob", "box")) != 2 {
		t.Fatalf("bob's devices: %+v", fake.VolumeDevices("lxcgate-bob", "box"))
	}
	// A dataset's path is taken: a volume cannot go there.
	mustVolume(t, s, "alice", "data", 0)
	if _, err := s.AttachVolume(ctx, "alice", "data", "dev", "/data/imagenet/x", false); err == nil {
		t.Fatal("attached under a dataset")
	}
	_ = os.Remove(src)
}

// With [volumes] personal, a user's first container makes their volume
// "home", and every container of theirs gets it.
func TestPersonalVolume(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	c := *s.conf()
	c.PersonalPath = "/home/ubuntu/persist"
	s.cfg.Store(&c)
	for _, n := range []string{"one", "two"} {
		if _, err := s.Create(ctx, "alice", CreateRequest{Name: n}); err != nil {
			t.Fatal(err)
		}
		if d := fake.VolumeDevices("lxcgate-alice", n)["vol.home"]; d.Path != "/home/ubuntu/persist" {
			t.Fatalf("%s: %+v", n, d)
		}
	}
	if vs, _ := s.ListVolumes(ctx, "alice"); len(vs) != 1 || len(vs[0].Attached) != 2 {
		t.Fatalf("volumes: %+v", vs)
	}
}

// In a cluster a launch with a volume goes to the volume's member, an
// attach across members is refused naming them, and a container with
// volumes does not move.
func TestVolumesInACluster(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	c := *s.conf()
	c.VolumePool, c.VolumeDefaultSize, c.Quota.Volumes = pool, 1<<30, 3
	s.cfg.Store(&c)
	mustVolume(t, s, "alice", "data", 0)
	_ = fake.SetVolumeMember(pool, "lxcgate-alice.data", "member3")
	var notes []string
	ct, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Volumes: []VolumeMount{{Name: "data"}},
		Progress: func(p string) { notes = append(notes, p) }})
	if err != nil || ct.Host != "member3" || !strings.Contains(strings.Join(notes, "\n"), "where volume data lives") {
		t.Fatalf("placed %+v %v %v", ct, err, notes)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "x", Host: "member1", Volumes: []VolumeMount{{Name: "data"}}}); err == nil ||
		!strings.Contains(err.Error(), "lives on member3, not member1") {
		t.Fatalf("--host elsewhere: %v", err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "far", Host: "member1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachVolume(ctx, "alice", "data", "far", "", false); err == nil || !strings.Contains(err.Error(), "data is on member3 and far on member1") {
		t.Fatalf("attach across members: %v", err)
	}
	if err := s.Move(ctx, "alice", "dev", "member2"); err == nil || !strings.Contains(err.Error(), "volumes or datasets attached") {
		t.Fatalf("move with a volume: %v", err)
	}
}

// A restore brings back the devices of the snapshot's time; the books
// decide what stays.
func TestRestoreFitsVolumes(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "old", 0)
	mustVolume(t, s, "alice", "new", 0)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "dev", Start: true, Volumes: []VolumeMount{{Name: "old"}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TakeSnapshot(ctx, "alice", "dev", "s1", false); err != nil {
		t.Fatal(err)
	}
	if err := s.DetachVolume(ctx, "alice", "old", "dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachVolume(ctx, "alice", "new", "dev", "", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(ctx, "alice", "dev", "s1"); err != nil {
		t.Fatal(err)
	}
	d := fake.VolumeDevices("lxcgate-alice", "dev")
	if _, ok := d["vol.old"]; ok || d["vol.new"].Path != "/mnt/new" || len(d) != 1 {
		t.Fatalf("after restore: %+v", d)
	}
}

// blockingReader hands out nothing until released: an import's stream in
// flight.
type blockingReader struct {
	started chan struct{}
	release chan struct{}
	data    io.Reader
}

func (b *blockingReader) Read(p []byte) (int, error) {
	select {
	case <-b.started:
	default:
		close(b.started)
	}
	<-b.release
	return b.data.Read(p)
}

// A long import holds neither the service nor a reconcile: the reconcile
// runs meanwhile and leaves its reservation alone; another user's work
// goes on.
func TestImportInFlightSurvivesReconcile(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newVolumeService(t, nil)
	mustVolume(t, s, "alice", "src", 0)
	_ = fake.WriteVolume(pool, "lxcgate-alice.src", []byte("payload"))
	var exp bytes.Buffer
	if _, err := s.ExportVolume(ctx, "alice", "src", &exp); err != nil {
		t.Fatal(err)
	}
	br := &blockingReader{started: make(chan struct{}), release: make(chan struct{}), data: &exp}
	done := make(chan error, 1)
	go func() { _, err := s.ImportVolume(ctx, "alice", "copy", br); done <- err }()
	<-br.started
	if err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	mustVolume(t, s, "bob", "other", 0)
	close(br.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetVolume(ctx, "alice", "copy"); err != nil || v.State != "ready" {
		t.Fatalf("after the import: %+v %v", v, err)
	}
}

// A clone gets the default datasets, as every new container does, but
// none of its source's volumes.
func TestCloneGetsDefaultDatasets(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	s, fake, _ := newVolumeService(t, map[string]Dataset{"imagenet": {Source: src, Path: "/data/imagenet", Default: true}})
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
	d := fake.VolumeDevices("lxcgate-alice", "copy")
	if _, ok := d["vol.data"]; ok || d["ds.imagenet"].Path != "/data/imagenet" || len(d) != 1 {
		t.Fatalf("clone's devices: %+v", d)
	}
}
