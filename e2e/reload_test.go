package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Scenario: an admin edits the configuration and runs `systemctl reload`
// (SIGHUP), once with a change that applies live, once with a broken file.
// The gateway never stops; it applies the log level, names what needs a
// restart, and keeps the old configuration when the new one is wrong.
func TestSIGHUPReloads(t *testing.T) {
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	cfg := filepath.Join(g.dir, "lxcgate.toml")
	os.WriteFile(cfg, []byte("[log]\nlevel = \"info\"\n"), 0o600)
	g.start("--config", cfg)
	os.WriteFile(cfg, []byte("[log]\nlevel = \"debug\"\n[quota]\ncontainers = 7\n"), 0o600)
	g.signal(syscall.SIGHUP)
	waitFor(t, "the reload", 5*time.Second, func() bool {
		return strings.Contains(g.logs(), `applied=log.level needs_restart=quota`)
	})
	if r := g.sshKey("alice", key, "", "whoami"); r.code != 0 {
		t.Fatalf("after SIGHUP: %+v", r)
	}
	waitFor(t, "debug lines after the reload", 5*time.Second, func() bool { return strings.Contains(g.logs(), `level=DEBUG msg="reload: log level set"`) })
	os.WriteFile(cfg, []byte("[log]\nlevel = \"loud\"\n"), 0o600)
	g.signal(syscall.SIGHUP)
	waitFor(t, "the refused reload", 5*time.Second, func() bool {
		return strings.Contains(g.logs(), "the configuration was not applied")
	})
	if r := g.sshKey("alice", key, "", "whoami"); r.code != 0 {
		t.Fatalf("after a broken reload: %+v", r)
	}
	select {
	case err := <-g.exited:
		t.Fatalf("the gateway stopped: %v", err)
	default:
	}
}
