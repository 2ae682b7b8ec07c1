package doctor

import (
	"os"
	"path/filepath"
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
