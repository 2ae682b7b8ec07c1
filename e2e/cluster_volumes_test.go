package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Scenario: on the 3-member cluster (pool "local": a dir pool on each
// member), alice's volume lives on one member, the one she names or one
// placement chooses, and the create says which. A launch with it lands
// there and says so; attaching it to a container on another member is
// refused naming the member; a container with a volume does not move. A
// dataset the admin says is only on member2 takes a launch there, is
// readable at its path, and refuses --host elsewhere and a volume on
// another member, naming both; doctor lists its members.
func TestClusterVolumes(t *testing.T) {
	g, keys, prefix := datasetClusterGW(t)
	alice, admin := keys["alice"], keys["admin"]

	// Without --host a volume goes where a container would; with it, there.
	r := g.must("alice", alice, "", "volume", "create", "spare")
	if at := nestedVolumeMember(t, prefix+"alice.spare"); !strings.Contains(r.err, "Created volume spare (64MiB) on "+at+";") {
		t.Fatalf("volume create does not say where (LXD has it on %s): %+v", at, r)
	}
	if r := g.sshKey("alice", alice, "", "volume", "create", "x", "--host", "member9"); r.code == 0 || !strings.Contains(r.err, `no cluster member "member9"`) {
		t.Fatalf("volume create --host member9: %+v", r)
	}
	g.must("alice", alice, "", "volume", "create", "data", "--host", "member1")
	if home := nestedVolumeMember(t, prefix+"alice.data"); home != "member1" {
		t.Fatalf("volume create --host member1 made it on %s", home)
	}
	r = g.must("alice", alice, "", "launch", "dev", "--volume", "data")
	if !strings.Contains(r.err, "Placed on member1: where volume data lives") {
		t.Fatalf("launch --volume does not say where: %+v", r)
	}
	if d := g.details("alice", alice, "dev"); d.Host != "member1" {
		t.Fatalf("dev on %s, the volume on member1", d.Host)
	}
	g.must("alice", alice, "", "launch", "far", "--host", "member3")
	if r := g.sshKey("alice", alice, "", "volume", "attach", "data", "far"); r.code == 0 ||
		!strings.Contains(r.err, "data is on member1 and far on member3") {
		t.Fatalf("attach across members: %+v", r)
	}
	g.must("alice", alice, "", "stop", "dev", "--force")
	if r := g.sshKey("boss", admin, "", "move", "dev", "--host", "member3", "--user", "alice"); r.code == 0 ||
		!strings.Contains(r.err, "volumes or datasets attached") {
		t.Fatalf("move with a volume: %+v", r)
	}
	clusterDataset(t, g, alice, prefix)

	// A volume on any member is listed, resized and deleted without a
	// target: LXD forwards to its member.
	g.must("alice", alice, "", "volume", "resize", "spare", "96MiB")
	if r := g.must("alice", alice, "", "volumes"); !strings.Contains(r.out, "spare") || !strings.Contains(r.out, "96MiB") {
		t.Fatalf("volumes: %+v", r)
	}
	g.must("alice", alice, "", "volume", "delete", "spare", "--yes")
	if out, _ := nested("storage", "volume", "list", "local", "--format", "csv", "-c", "n"); strings.Contains(out, prefix+"alice.spare") {
		t.Fatalf("volume delete left it in LXD:\n%s", out)
	}
}

// datasetClusterGW is clusterGW with volumes on the members' pool "local"
// and the dataset corpus, whose source the test makes on member2 only
// (and removes at the end).
func datasetClusterGW(t *testing.T) (*gw, map[string]string, string) {
	t.Helper()
	c := needCluster(t)
	base, err := os.ReadFile(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("/srv/e2e-cv%d/corpus", time.Now().UnixNano()%1e6)
	conf := filepath.Join(t.TempDir(), "lxcgate.toml")
	extra := fmt.Sprintf("\n[volumes]\npool = \"local\"\ndefault_size = \"64MiB\"\n\n"+
		"[datasets.corpus]\nsource = %q\npath = \"/data/corpus\"\nmembers = [\"member2\"]\n", src)
	if err := os.WriteFile(conf, append(base, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	inMember := func(m string, args ...string) (string, error) {
		return lxcAll(append([]string{"exec", "labcluster-" + m, "--project", "labcluster", "--"}, args...)...)
	}
	if out, err := inMember("m2", "sh", "-c", "mkdir -p "+src+" && echo cat,dog > "+src+"/labels.txt && chmod -R a+rX "+filepath.Dir(src)); err != nil {
		t.Fatalf("dataset source on member2: %v %s", err, out)
	}
	t.Cleanup(func() { inMember("m2", "rm", "-rf", filepath.Dir(src)) })
	g, keys, prefix := clusterGW(t, 31300, "LXCGATE_CONFIG="+conf)
	t.Cleanup(func() { removeProjects(nested, prefix); removeNestedVolumes(prefix) })
	return g, keys, prefix
}

// clusterDataset: corpus, only on member2, takes a launch there and is
// readable; --host elsewhere and a volume on member1 are refused naming
// them, and make nothing; doctor lists its members.
func clusterDataset(t *testing.T, g *gw, alice, prefix string) {
	t.Helper()
	r := g.must("alice", alice, "", "launch", "ds", "--dataset", "corpus")
	if !strings.Contains(r.err, "Placed on member2") {
		t.Fatalf("launch --dataset corpus: %+v", r)
	}
	read, err := nested("exec", "ds", "--project", prefix+"alice", "--", "cat", "/data/corpus/labels.txt")
	if err != nil || read != "cat,dog\n" {
		t.Fatalf("reading the dataset: %q %v", read, err)
	}
	if r := g.sshKey("alice", alice, "", "launch", "x", "--dataset", "corpus", "--host", "member3"); r.code == 0 ||
		!strings.Contains(r.err, "dataset corpus is only on member2, not on member3") {
		t.Fatalf("--host without the dataset: %+v", r)
	}
	r = g.sshKey("alice", alice, "", "launch", "y", "--dataset", "corpus", "--volume", "data")
	if r.code == 0 || !strings.Contains(r.err, "dataset corpus is only on member2, but volume data lives on member1") {
		t.Fatalf("a volume and a dataset on two members: %+v", r)
	}
	names, err := nested("list", "--project", prefix+"alice", "--format", "csv", "-c", "n")
	if err != nil || strings.Join(strings.Fields(names), ",") != "dev,ds,far" {
		t.Fatalf("a refused launch made something: %q %v", names, err)
	}
	rep, _, stderr := g.doctor()
	if st, d := rep.status("dataset corpus"); st != "ok" || !strings.Contains(d, "on members member2") {
		t.Fatalf("doctor's dataset corpus: %s %q %s", st, d, stderr)
	}
}

// nestedVolumeMember is the member a custom volume of the cluster's pool
// "local" lives on.
func nestedVolumeMember(t *testing.T, name string) string {
	t.Helper()
	out, err := nested("storage", "volume", "list", "local", "--format", "csv", "-c", "tnL")
	if err != nil {
		t.Fatalf("listing the cluster's volumes: %v %s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ","); len(f) == 3 && f[0] == "custom" && f[1] == name {
			return f[2]
		}
	}
	t.Fatalf("no volume %s on the cluster:\n%s", name, out)
	return ""
}

// removeNestedVolumes deletes the cluster's custom volumes named PREFIX*,
// each on its member: only the test's own gateway makes such names.
func removeNestedVolumes(prefix string) {
	out, _ := nested("storage", "volume", "list", "local", "--format", "csv", "-c", "tnL")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ","); len(f) == 3 && f[0] == "custom" && strings.HasPrefix(f[1], prefix) {
			nested("storage", "volume", "delete", "local", f[1], "--target", f[2])
		}
	}
}
