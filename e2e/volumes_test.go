package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lxdVolumes lists the custom volumes of the default pool whose names
// start with prefix: a gateway's volumes are PREFIX + owner + "." + name.
func lxdVolumes(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := lxcOut("query", "/1.0/storage-pools/default/volumes/custom")
	if err != nil {
		t.Fatalf("listing volumes: %v", err)
	}
	var urls []string
	json.Unmarshal([]byte(out), &urls)
	var names []string
	for _, u := range urls {
		if n := u[strings.LastIndex(u, "/")+1:]; strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	return names
}

// removeVolumes deletes the custom volumes named PREFIX*: only the test's
// own gateway makes such names. Containers go first (removeProjects), as
// LXD refuses to delete a volume in use.
func removeVolumes(prefix string) {
	out, _ := lxcOut("query", "/1.0/storage-pools/default/volumes/custom")
	var urls []string
	json.Unmarshal([]byte(out), &urls)
	for _, u := range urls {
		if n := u[strings.LastIndex(u, "/")+1:]; strings.HasPrefix(n, prefix) {
			lxcAll("storage", "volume", "delete", "default", n)
		}
	}
}

// volumeGW is a lab gateway with small volumes, whose volumes go when the
// test ends (after its containers).
func volumeGW(t *testing.T, env ...string) (*gw, string) {
	t.Helper()
	g, prefix := labGW(t, append([]string{"LXCGATE_VOLUMES_DEFAULT_SIZE=64MiB", "LXCGATE_VOLUMES_MAX_SIZE=256MiB"}, env...)...)
	t.Cleanup(func() { removeProjects(lxcOut, prefix); removeVolumes(prefix) })
	return g, prefix
}

func (g *gw) must(user, key, stdin string, args ...string) result {
	g.t.Helper()
	r := g.sshKey(user, key, stdin, args...)
	if r.code != 0 {
		g.t.Fatalf("%s as %s: %+v", strings.Join(args, " "), user, r)
	}
	return r
}

// A volume written in one container, the container deleted, shows up in a
// new container with its data and its files' owner; attach and detach
// work live.
func TestVolumeOutlivesContainer(t *testing.T) {
	g, prefix := volumeGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	project := prefix + "alice"
	g.must("alice", alice, "", "volume", "create", "data")
	if got := lxdVolumes(t, prefix); strings.Join(got, ",") != prefix+"alice.data" {
		t.Fatalf("LXD volumes: %v", got)
	}
	owner := lxc(t, "storage", "volume", "get", "default", prefix+"alice.data", "user.lxcgate.owner")
	if strings.TrimSpace(owner) != "alice" {
		t.Fatalf("owner key: %q", owner)
	}
	g.must("alice", alice, "", "launch", "one", "--volume", "data:/work")
	script := "mkdir /work/u && chown 1000:1000 /work/u"
	if out, err := lxcExec(project, "one", script); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := lxcAll("exec", "one", "--project", project, "--user", "1000", "--group", "1000", "--",
		"sh", "-c", "echo results > /work/u/file"); err != nil {
		t.Fatalf("writing as uid 1000: %v %s", err, out)
	}
	if r := g.sshKey("alice", alice, "", "volume", "delete", "data", "--yes"); r.code == 0 || !strings.Contains(r.err, "attached to one at /work") {
		t.Fatalf("delete while attached: %+v", r)
	}
	g.must("alice", alice, "", "delete", "one", "--force", "--yes")
	if r := g.must("alice", alice, "", "volumes"); !strings.Contains(r.out, "data") || strings.Contains(r.out, "one:") {
		t.Fatalf("after the container's delete: %+v", r)
	}
	g.must("alice", alice, "", "launch", "two")
	// Live: attached to a running container, it is mounted at once.
	g.must("alice", alice, "", "volume", "attach", "data", "two", "/srv/data")
	out, err := lxcExec(project, "two", "cat /srv/data/u/file; stat -c %u:%g /srv/data/u/file")
	if err != nil || out != "results\n1000:1000\n" {
		t.Fatalf("in the new container: %q %v", out, err)
	}
	g.must("alice", alice, "", "volume", "detach", "data", "two")
	if out, _ := lxcExec(project, "two", "ls /srv/data 2>&1; grep -c ' /srv/data ' /proc/mounts"); strings.Contains(out, "u\n") {
		t.Fatalf("still mounted after detach: %q", out)
	}
	// Read-only attach: root in the container cannot write.
	g.must("alice", alice, "", "volume", "attach", "data", "two", "--readonly")
	if out, err := lxcExec(project, "two", "touch /mnt/data/x"); err == nil {
		t.Fatalf("wrote to a read-only volume: %s", out)
	}
	g.must("alice", alice, "", "volume", "detach", "data", "two")
	g.must("alice", alice, "", "volume", "delete", "data", "--yes")
	if got := lxdVolumes(t, prefix); len(got) != 0 {
		t.Fatalf("left in LXD: %v", got)
	}
}

// Export and import round-trip byte for byte; the import is the
// importer's, whatever the stream says.
func TestVolumeExportImport(t *testing.T) {
	g, prefix := volumeGW(t)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	g.must("alice", alice, "", "volume", "create", "data")
	g.must("alice", alice, "", "launch", "one", "--volume", "data")
	sum, err := lxcExec(prefix+"alice", "one", "dd if=/dev/urandom of=/mnt/data/blob bs=64k count=16 2>/dev/null && sha256sum /mnt/data/blob | cut -d' ' -f1")
	if err != nil {
		t.Fatalf("%v %s", err, sum)
	}
	exp := g.must("alice", alice, "", "volume", "export", "data")
	if len(exp.out) < 1<<20 || !strings.HasPrefix(exp.out, "\x1f\x8b") {
		t.Fatalf("export: %d bytes, starts %q", len(exp.out), exp.out[:min(4, len(exp.out))])
	}
	if r := g.sshKey("bob", bob, "", "volume", "export", "data"); r.code == 0 || len(r.out) > 0 {
		t.Fatalf("bob exported alice's data: %d bytes, %q", len(r.out), r.err)
	}
	g.must("bob", bob, exp.out, "volume", "import", "copy")
	owner := lxc(t, "storage", "volume", "get", "default", prefix+"bob.copy", "user.lxcgate.owner")
	if strings.TrimSpace(owner) != "bob" {
		t.Fatalf("imported volume's owner: %q", owner)
	}
	g.must("bob", bob, "", "launch", "box", "--volume", "copy:/in")
	got, _ := lxcExec(prefix+"bob", "box", "sha256sum /in/blob | cut -d' ' -f1")
	if got != sum {
		t.Fatalf("round trip: %q, want %q", got, sum)
	}
	if r := g.sshKey("bob", bob, "not a tarball", "volume", "import", "junk"); r.code == 0 {
		t.Fatalf("junk imported: %+v", r)
	}
	if got := lxdVolumes(t, prefix); len(got) != 2 {
		t.Fatalf("volumes after a refused import: %v", got)
	}
}

// A dataset is readable by the container's own user at its path and not
// writable; a missing one is refused before anything is made.
func TestVolumeDatasets(t *testing.T) {
	src := t.TempDir()
	os.Chmod(src, 0o755)
	os.WriteFile(filepath.Join(src, "labels.txt"), []byte("cat,dog\n"), 0o644)
	conf := filepath.Join(t.TempDir(), "lxcgate.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("[datasets.shared]\nsource = %q\npath = \"/data/shared\"\n\n"+
		"[datasets.gone]\nsource = %q\npath = \"/data/gone\"\n\n[datasets.bobs]\nsource = %q\npath = \"/data/bobs\"\nusers = [\"bob\"]\n",
		src, filepath.Join(src, "missing"), src)), 0o644)
	g, prefix := volumeGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start("--config", conf)
	if r := g.must("alice", alice, "", "datasets"); !strings.Contains(r.out, "/data/shared") || strings.Contains(r.out, "bobs") {
		t.Fatalf("datasets: %+v", r)
	}
	for _, ds := range []string{"gone", "bobs", "nope"} {
		if r := g.sshKey("alice", alice, "", "launch", "x", "--dataset", ds); r.code == 0 {
			t.Fatalf("dataset %s: %+v", ds, r)
		}
	}
	if got := lxdNames(t, prefix+"alice"); len(got) != 0 {
		t.Fatalf("a refused launch made %v", got)
	}
	g.must("alice", alice, "", "launch", "one", "--dataset", "shared")
	read := lxcCmd("exec", "one", "--project", prefix+"alice", "--user", "1000", "--group", "1000", "--", "cat", "/data/shared/labels.txt")
	if out, err := read.CombinedOutput(); err != nil || string(out) != "cat,dog\n" {
		t.Fatalf("reading as uid 1000: %q %v", out, err)
	}
	for _, uid := range []string{"1000", "0"} {
		w := lxcCmd("exec", "one", "--project", prefix+"alice", "--user", uid, "--", "sh", "-c", "echo x > /data/shared/new")
		if out, err := w.CombinedOutput(); err == nil {
			t.Fatalf("uid %s wrote to the dataset: %s", uid, out)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "new")); err == nil {
		t.Fatal("the dataset's source changed")
	}
	out, _, _ := g.lxcgate("", "--config", conf, "doctor")
	if !strings.Contains(out, "dataset gone") || !strings.Contains(out, "dataset shared") {
		t.Fatalf("doctor: %s", out)
	}
}

// Quota refusals name the limit and the use and make nothing; bob reaches
// none of alice's volume by any spelling.
func TestVolumeQuotaAndTenancy(t *testing.T) {
	g, prefix := volumeGW(t, "LXCGATE_QUOTA_VOLUMES=2", "LXCGATE_QUOTA_DISK=1300MiB")
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	g.must("alice", alice, "", "volume", "create", "data", "--size", "200MiB")
	g.must("alice", alice, "", "launch", "dev")
	if r := g.sshKey("alice", alice, "", "volume", "create", "big", "--size", "256MiB"); r.code == 0 ||
		!strings.Contains(r.err, "disk would be 1480MiB, your limit is 1300MiB (in use: 1224MiB") {
		t.Fatalf("disk refusal: %+v", r)
	}
	g.must("alice", alice, "", "volume", "create", "small")
	if r := g.sshKey("alice", alice, "", "volume", "create", "third", "--size", "1MiB"); r.code == 0 ||
		!strings.Contains(r.err, "volumes would be 3, your limit is 2 (in use: 2)") {
		t.Fatalf("count refusal: %+v", r)
	}
	if got := lxdVolumes(t, prefix); len(got) != 2 {
		t.Fatalf("refusals made volumes: %v", got)
	}
	g.must("bob", bob, "", "launch", "box")
	for _, name := range []string{"data", "DATA", "Data", "alice.data", prefix + "alice.data", "../alice/data", "alice/data",
		"data/", "data%2f", "%2e%2e", "dаta", "data/.."} {
		for _, args := range [][]string{{"volume", "attach", name, "box"}, {"volume", "export", name}, {"volume", "resize", name, "250MiB"},
			{"volume", "delete", name, "--yes"}, {"volume", "snapshot", name}, {"volume", "snapshots", name}, {"volume", "detach", name, "box"},
			{"launch", "x", "--volume", name}} {
			r := g.sshKey("bob", bob, "", args...)
			// The answer for a name nobody has, whatever the name spells.
			if r.code == 0 || !strings.Contains(r.err, fmt.Sprintf("no such volume %q", name)) {
				t.Errorf("bob %v: %+v", args, r)
			}
		}
	}
	// Nor may alice put her volume in bob's container.
	if r := g.sshKey("alice", alice, "", "volume", "attach", "data", "box"); r.code == 0 || !strings.Contains(r.err, `no such container "box"`) {
		t.Fatalf("alice into bob's box: %+v", r)
	}
	if out := lxc(t, "config", "device", "list", "box", "--project", prefix+"bob"); strings.Contains(out, "vol.") {
		t.Fatalf("bob's box has devices %s", out)
	}
	if r := g.sshKey("alice", alice, "", "volume", "snapshot", "data", "s1", "--keep"); r.code != 0 {
		t.Fatalf("snapshot: %+v", r)
	}
	if r := g.must("alice", alice, "", "volume", "snapshots", "data"); !strings.Contains(r.out, "s1") {
		t.Fatalf("snapshots: %+v", r)
	}
}

// The database is lost: the volumes come back with their owners, sizes
// and attachments, read from LXD (names, owner keys and devices).
func TestVolumeLostDatabase(t *testing.T) {
	g, _ := volumeGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	g.must("alice", alice, "", "volume", "create", "data", "--size", "100MiB")
	g.must("alice", alice, "", "volume", "create", "spare")
	g.must("alice", alice, "", "launch", "box", "--volume", "data:/work")
	before := g.must("alice", alice, "", "volumes", "--json").out

	g.signal(syscall.SIGTERM)
	<-g.exited
	data := filepath.Join(g.dir, "data")
	for _, f := range []string{"lxcgate.db", "lxcgate.db-wal", "lxcgate.db-shm"} {
		if err := os.Remove(filepath.Join(data, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	g.mustLxcgate("alice-password\n", "user", "add", "alice", "--password-stdin")
	pub, _ := os.ReadFile(alice + ".pub")
	g.mustLxcgate(string(pub), "user", "key", "add", "alice")
	known := g.known
	g.start()
	g.known = known
	// The log holds both runs: the second start's reconcile is the second line.
	waitFor(t, "the start-up reconcile", 30*time.Second, func() bool {
		return strings.Count(g.logs(), "containers reconciled with LXD") >= 2
	})
	type vol struct {
		Name     string `json:"name"`
		Owner    string `json:"owner"`
		Size     int64  `json:"size"`
		Attached []struct {
			Container string `json:"container"`
			Path      string `json:"path"`
		} `json:"attached"`
	}
	var was, is []vol
	json.Unmarshal([]byte(before), &was)
	json.Unmarshal([]byte(g.must("alice", alice, "", "volumes", "--json").out), &is)
	if len(is) != 2 || !reflect.DeepEqual(was, is) {
		t.Fatalf("after the database was lost: %+v, want %+v", is, was)
	}
}
