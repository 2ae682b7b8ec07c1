package doctor

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckHostKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "host_ed25519")
	if c := CheckHostKey(p); c.Status != Warn {
		t.Fatalf("missing: %+v", c)
	}
	if err := os.WriteFile(p, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := CheckHostKey(p); c.Status != OK {
		t.Fatalf("present: %+v", c)
	}
}

func TestCheckPoolDriver(t *testing.T) {
	for driver, want := range map[string]Status{"zfs": OK, "btrfs": OK, "dir": Warn, "lvm": Warn} {
		if c := CheckPoolDriver("default", driver); c.Status != want {
			t.Errorf("%s: %+v, want %s", driver, c, want)
		}
	}
}
