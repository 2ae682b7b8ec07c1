package shell

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
)

func newVolumeShell(t *testing.T) (*Shell, *lxdtest.Fake) {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	us := users.New(db)
	for _, n := range []string{"alice", "bob"} {
		us.Add(ctx, n, users.RoleUser, "")
	}
	fake := lxdtest.New()
	src := t.TempDir()
	cs := containers.New(db, fake, containers.Config{
		DefaultImage: "lxcgate-busybox", CPU: 1, Memory: 256 << 20, Disk: 1 << 30, Prefix: "lxcgate-",
		Quota:      containers.Quota{Containers: 2, CPU: 4, Memory: 1 << 30, Disk: 10 << 30, Volumes: 2, Snapshots: 5},
		VolumePool: "default", VolumeDefaultSize: 1 << 30, VolumeMaxSize: 4 << 30, SnapshotKeep: 3,
		Datasets: map[string]containers.Dataset{"imagenet": {Source: src, Path: "/data/imagenet"},
			"secret": {Source: src, Path: "/data/secret", Users: []string{"bob"}}},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sh, _, _ := newShellWith(Options{Services: cs, Keys: us, Public: "gpu1.example.org", Gateway: "gpu1.example.org:2222"})
	return sh, fake
}

func TestVolumeCommands(t *testing.T) {
	sh, fake := newVolumeShell(t)
	for _, tc := range []struct {
		user     users.User
		line     string
		code     int
		out, err string
	}{
		{alice, "volume create data --size 2GiB", 0, "", "Created volume data (2GiB)"},
		{alice, "volume create data", 1, "", `you already have "data"`},
		{alice, "volume create bad_name", 1, "", "invalid volume name"},
		{alice, "volume create big --size 9GiB", 1, "", "at most 4GiB"},
		{alice, "volume", 2, "", "missing arguments"},
		{alice, "volume frob x", 2, "", `unknown verb "frob"`},
		{alice, "launch dev --volume data:/work --dataset imagenet", 0, "", "Launched dev"},
		{alice, "volumes", 0, "dev:/work", ""},
		{alice, "volume list --json", 0, `"path": "/work"`, ""},
		{alice, "volume delete data --yes", 1, "", "attached to dev at /work; detach it first"},
		{alice, "volume detach data dev", 0, "", "Detached volume data from dev."},
		{alice, "volume attach data dev --readonly", 0, "", "Attached volume data to dev at /mnt/data read-only."},
		{alice, "volume attach data dev /srv", 1, "", "already attached"},
		{alice, "volume attach data dev /etc", 1, "", "nothing may be mounted over or under /etc"},
		{alice, "volume resize data 1GiB", 1, "", "only grow"},
		{alice, "volume resize data 3GiB", 0, "", "Volume data is now 3GiB."},
		{alice, "volume snapshot data first --keep", 0, "first", "(pinned)"},
		{alice, "volume snapshots data", 0, "first", ""},
		{alice, "datasets", 0, "imagenet", ""},
		{alice, "launch x --dataset secret", 1, "", `no such dataset "secret"`},
		{bob, "datasets", 0, "secret", ""},
		{bob, "volume attach data dev", 1, "", `no such volume "data"`},
		{bob, "volume delete data --yes", 1, "", `no such volume "data"`},
		{bob, "volume resize data 4GiB", 1, "", `no such volume "data"`},
		{bob, "volume snapshot data", 1, "", `no such volume "data"`},
		{bob, "volume export alice.data", 1, "", `no such volume "alice.data"`},
		{bob, "volume export lxcgate-alice.data", 1, "", `no such volume`},
		{bob, "launch b --volume data", 1, "", `no such volume "data"`},
		{bob, "volumes", 0, "", "You have no volumes"},
		{alice, "volume delete data", 1, "", "add --yes to confirm"},
		{alice, "quota", 0, "volumes     1 / 2", ""},
	} {
		code, out, errw := exec(sh, tc.user, false, tc.line, "")
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%s as %s: code %d out %q err %q; want %d %q %q", tc.line, tc.user.Name, code, out, errw, tc.code, tc.out, tc.err)
		}
	}
	if d := fake.VolumeDevices("lxcgate-alice", "dev"); len(d) != 2 || !d["vol.data"].ReadOnly {
		t.Fatalf("devices: %+v", d)
	}
}

// Export writes the stream as it is; import reads a new volume from stdin.
func TestVolumeExportImport(t *testing.T) {
	sh, fake := newVolumeShell(t)
	if code, _, errw := exec(sh, alice, false, "volume create data", ""); code != 0 {
		t.Fatal(errw)
	}
	payload := "bytes\x00\r\n\xff of a tarball"
	_ = fake.WriteVolume("default", "lxcgate-alice.data", []byte(payload))
	code, out, errw := exec(sh, alice, false, "volume export data", "")
	if code != 0 || !strings.HasSuffix(out, payload) {
		t.Fatalf("export: %d %q %q", code, out, errw)
	}
	code, _, errw = exec(sh, bob, false, "volume import copy", out)
	if code != 0 || !strings.Contains(errw, "Imported volume copy") {
		t.Fatalf("import: %d %q", code, errw)
	}
	if got, _ := fake.VolumeData("default", "lxcgate-bob.copy"); string(got) != payload {
		t.Fatalf("round trip: %q", got)
	}
}
