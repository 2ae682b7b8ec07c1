package lxd

import (
	"os"
	"path/filepath"
	"testing"
)

// Regression: a key file left world-readable (a pair half made, or copied
// in by hand) kept its 0644 when ClientCertFiles wrote a new key into it.
func TestClientCertFilesKeyModeOnOverwrite(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "lxd-client.key")
	if err := os.WriteFile(key, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	certFile, keyFile, err := ClientCertFiles(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key %s: %v %v, want 0600", keyFile, fi.Mode(), err)
	}
	if b, _ := os.ReadFile(keyFile); string(b) == "stale" {
		t.Fatal("the stale key was kept")
	}
	if fi, err := os.Stat(certFile); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("certificate: %v %v", fi.Mode(), err)
	}
}
