package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBackup(t *testing.T) {
	data := testData(t)
	if code, _, errw := lxcgate(t, "alice-password\n", "--data", data, "user", "add", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errw)
	}
	file := filepath.Join(t.TempDir(), "copy.db")
	if code, _, errw := lxcgate(t, "", "--data", data, "backup", file); code != 0 {
		t.Fatalf("backup: %d %s", code, errw)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if code, _, errw := lxcgate(t, "", "--data", data, "backup", file); code != 1 || !strings.Contains(errw, "exists") {
		t.Fatalf("backup over a file: %d %s", code, errw)
	}
	// The copy is a working database: restore it into a fresh data directory.
	restored := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(restored, 0o700)
	b, _ := os.ReadFile(file)
	os.WriteFile(filepath.Join(restored, "lxcgate.db"), b, 0o600)
	if code, out, errw := lxcgate(t, "", "--data", restored, "user", "list"); code != 0 || !strings.Contains(out, "alice") {
		t.Fatalf("restored: %d %s %s", code, out, errw)
	}
}
