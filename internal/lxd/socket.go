package lxd

import (
	"os"
	"path/filepath"
)

// Where LXD keeps its unix socket: the Debian/Ubuntu package, then the snap.
var defaultSockets = []string{
	"/var/lib/lxd/unix.socket",
	"/var/snap/lxd/common/lxd/unix.socket",
}

// Socket returns the unix socket to talk to LXD through: the configured
// one (containers.lxd_socket) when set, else the first that exists of
// $LXD_DIR/unix.socket, the Debian package's and the snap's. With none
// found it returns "", which leaves the choice to LXD's client.
func Socket(configured string) string {
	return findSocket(configured, os.Getenv("LXD_DIR"), defaultSockets)
}

func findSocket(configured, lxdDir string, candidates []string) string {
	if configured != "" {
		return configured
	}
	if lxdDir != "" {
		candidates = append([]string{filepath.Join(lxdDir, "unix.socket")}, candidates...)
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}
