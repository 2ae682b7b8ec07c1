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
