package lxd

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// fakeSocket makes dir/unix.socket, a real unix socket, and returns its path.
func fakeSocket(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "unix.socket")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return p
}

func TestFindSocket(t *testing.T) {
	root := t.TempDir()
	deb := filepath.Join(root, "var/lib/lxd/unix.socket")
	snap := filepath.Join(root, "var/snap/lxd/common/lxd/unix.socket")
	candidates := []string{deb, snap}

	if got := findSocket("", "", candidates); got != "" {
		t.Fatalf("with no socket anywhere: %q, want \"\"", got)
	}
	// A directory of that name is not a socket.
	os.MkdirAll(snap, 0o755)
	if got := findSocket("", "", candidates); got != "" {
		t.Fatalf("a directory was taken for a socket: %q", got)
	}
	os.Remove(snap)

	fakeSocket(t, filepath.Dir(snap))
	if got := findSocket("", "", candidates); got != snap {
		t.Fatalf("snap only: %q, want %q", got, snap)
	}
	fakeSocket(t, filepath.Dir(deb))
	if got := findSocket("", "", candidates); got != deb {
		t.Fatalf("both: %q, want the Debian package's %q", got, deb)
	}
	custom := fakeSocket(t, filepath.Join(root, "custom"))
	if got := findSocket("", filepath.Dir(custom), candidates); got != custom {
		t.Fatalf("LXD_DIR: %q, want %q", got, custom)
	}
	// LXD_DIR without a socket falls through to the usual places.
	if got := findSocket("", filepath.Join(root, "empty"), candidates); got != deb {
		t.Fatalf("LXD_DIR without a socket: %q, want %q", got, deb)
	}
	if got := findSocket("/run/mine.socket", filepath.Dir(custom), candidates); got != "/run/mine.socket" {
		t.Fatalf("configured socket not honoured: %q", got)
	}
}

func TestSocketEnv(t *testing.T) {
	custom := fakeSocket(t, filepath.Join(t.TempDir(), "lxd"))
	t.Setenv("LXD_DIR", filepath.Dir(custom))
	if got := Socket(""); got != custom {
		t.Fatalf("Socket(\"\") with LXD_DIR = %q, want %q", got, custom)
	}
}

func TestClientCertFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := ClientCertFiles(dir, "lxcgate@test")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key: %v %v", st, err)
	}
	pem1, _ := os.ReadFile(cert)
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		t.Fatalf("not a pair: %v", err)
	}
	fp, err := Fingerprint(pem1)
	if err != nil || len(fp) != 64 {
		t.Fatalf("fingerprint %q %v", fp, err)
	}
	// A second call keeps the pair.
	if _, _, err := ClientCertFiles(dir, "lxcgate@test"); err != nil {
		t.Fatal(err)
	}
	if pem2, _ := os.ReadFile(cert); string(pem2) != string(pem1) {
		t.Fatal("the pair was replaced")
	}
	if _, err := Fingerprint([]byte("junk")); err == nil {
		t.Fatal("junk has a fingerprint")
	}
}
