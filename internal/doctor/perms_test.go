package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPerms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "lxcgate.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if c := CheckPerms(dir, db); c.Status != OK {
		t.Fatalf("private: %+v", c)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	if c := CheckPerms(dir, db); c.Status != Fail {
		t.Fatalf("world-readable db: %+v", c)
	}
	_ = os.Chmod(db, 0o600)
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if c := CheckPerms(dir, db); c.Status != Fail {
		t.Fatalf("group-readable dir: %+v", c)
	}
	if c := CheckPerms(filepath.Join(dir, "none"), filepath.Join(dir, "none.db")); c.Status != OK {
		t.Fatalf("missing paths: %+v", c)
	}
}

// Regression: doctor called the data directory private while DATA's LXD
// client key (the gateway's identity to the cluster) was world-readable.
func TestCheckPermsClientKey(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "lxcgate.db")
	key := filepath.Join(dir, "lxd-client.key")
	for _, f := range []string{db, key} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if c := CheckPerms(dir, db); c.Status != OK {
		t.Fatalf("private: %+v", c)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	c := CheckPerms(dir, db)
	if c.Status != Fail || !strings.Contains(c.Detail, "lxd-client.key") || !strings.Contains(c.Detail, "chmod 0600") {
		t.Fatalf("readable client key: %+v", c)
	}
}
