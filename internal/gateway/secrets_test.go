package gateway

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTightenData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o755)
	os.Chmod(dir, 0o755)
	for _, n := range []string{"lxcgate.db", "lxcgate.db-wal", "ssh_host_ed25519_key"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	var logs bytes.Buffer
	tightenData(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir %v", fi.Mode())
	}
	for _, n := range []string{"lxcgate.db", "lxcgate.db-wal", "ssh_host_ed25519_key"} {
		if fi, _ := os.Stat(filepath.Join(dir, n)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s %v", n, fi.Mode())
		}
		if !strings.Contains(logs.String(), n) {
			t.Errorf("log does not name %s:\n%s", n, logs.String())
		}
	}
	logs.Reset()
	tightenData(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if logs.Len() != 0 {
		t.Errorf("second run changed something: %s", logs.String())
	}
}

// Regression: the LXD client key in DATA stayed as readable as it was
// made (0644 from an older release or a hand copy) while the database and
// the host key beside it were tightened.
func TestTightenDataClientKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "lxd-client.key")
	os.WriteFile(key, nil, 0o644)
	os.Chmod(key, 0o644)
	var logs bytes.Buffer
	tightenData(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("lxd-client.key %v, want 0600", fi.Mode())
	}
}

func TestInitialPasswordToFile(t *testing.T) {
	var errw bytes.Buffer
	data := t.TempDir()
	if err := showInitialPassword(&errw, data, "admin", "s3cret-pass-word"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(data, initialPasswordFile)
	b, err := os.ReadFile(file)
	fi, _ := os.Stat(file)
	if err != nil || strings.TrimSpace(string(b)) != "s3cret-pass-word" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file: %q %v %v", b, err, fi.Mode())
	}
	if strings.Contains(errw.String(), "s3cret") || !strings.Contains(errw.String(), file) {
		t.Fatalf("stderr: %s", errw.String())
	}
}
