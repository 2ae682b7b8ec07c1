package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckInotify(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "fs", "inotify"), 0o755)
	for value, want := range map[string]Status{"128\n": Warn, "1048576\n": OK, "junk": Warn} {
		os.WriteFile(filepath.Join(dir, "fs", "inotify", "max_user_instances"), []byte(value), 0o644)
		if c := CheckInotify(dir); c.Status != want {
			t.Errorf("%q: %+v", value, c)
		} else if want == Warn && value == "128\n" && !strings.Contains(c.Detail, "sysctl -w fs.inotify.max_user_instances=") {
			t.Errorf("no fix named: %s", c.Detail)
		}
	}
	if c := CheckInotify(filepath.Join(dir, "none")); c.Status != Warn {
		t.Errorf("unreadable: %+v", c)
	}
}
