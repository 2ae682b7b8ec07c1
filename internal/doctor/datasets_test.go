package doctor

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckDatasets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	_ = os.WriteFile(file, nil, 0o600)
	cs := CheckDatasets(map[string]string{"b": dir, "a": filepath.Join(dir, "nope"), "c": file})
	if len(cs) != 3 || cs[0].Name != "dataset a" || cs[0].Status != Fail || cs[1].Status != OK || cs[2].Status != Fail {
		t.Fatalf("%+v", cs)
	}
}

func TestClusterDatasets(t *testing.T) {
	cs := ClusterDatasets(map[string]string{"b": "/srv/b", "a": "/nowhere/a"}, map[string][]string{"a": {"member1", "member3"}})
	if len(cs) != 2 || cs[0].Name != "dataset a" || cs[0].Status != OK ||
		cs[0].Detail != "/nowhere/a on members member1, member3 (as configured: the gateway cannot look on a member)" ||
		cs[1].Detail != "/srv/b on every member (as configured: the gateway cannot look on a member)" {
		t.Fatalf("%+v", cs)
	}
}
