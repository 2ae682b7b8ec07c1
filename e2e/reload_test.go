package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Scenario: an admin edits the configuration and runs `systemctl reload`
// (SIGHUP) while alice works: the log level, a session limit, the default
// quota, the images allowlist and a new published service apply at once,
// to running containers too; a change that needs a restart is named and
// left alone; a broken file changes nothing. The gateway never stops.
func TestSIGHUPReloads(t *testing.T) {
	g, _ := portsGW(t)
	alice := g.addUser("alice", "alice-password", false)
	cfg := filepath.Join(g.dir, "lxcgate.toml")
	os.WriteFile(cfg, []byte("[log]\nlevel = \"info\"\n"), 0o600)
	g.start("--config", cfg)
	if r := g.sshKey("alice", alice, "", "launch", "box"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	os.WriteFile(cfg, []byte(`[log]
level = "debug"
[ssh]
max_sessions_per_user = 1
[quota]
containers = 7
[containers]
images = ["lxcgate-debian"]
[ports.services]
ssh = 22
web = 8080
[lobby]
enabled = true
`), 0o600)
	g.signal(syscall.SIGHUP)
	waitFor(t, "the reload", 5*time.Second, func() bool {
		return strings.Contains(g.logs(), `applied=containers.images,log.level,ports.services,quota.containers,ssh.max_sessions_per_user needs_restart=lobby.enabled`)
	})
	waitFor(t, "debug lines after the reload", 5*time.Second, func() bool { return strings.Contains(g.logs(), `level=DEBUG msg="reload: log level set"`) })

	// The default quota and the allowlist, for the next command.
	if r := g.sshKey("alice", alice, "", "quota", "--json"); r.code != 0 || !strings.Contains(r.out, `"containers": 7`) {
		t.Errorf("default quota after reload: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "images"); r.code != 0 || strings.Contains(r.out, "lxcgate-busybox") || !strings.Contains(r.out, "lxcgate-debian") {
		t.Errorf("images after reload: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "launch", "other", "--image", "lxcgate-busybox"); r.code == 0 || !strings.Contains(r.err, "lxcgate-busybox") {
		t.Errorf("an image no longer allowed launched: %+v", r)
	}
	// The new service reaches the running container: a host port and its
	// DNAT rule.
	waitFor(t, "the new service's port and rule", 15*time.Second, func() bool {
		r := g.sshKey("alice", alice, "", "ports", "box", "--json")
		var ps []port
		json.Unmarshal([]byte(r.out), &ps)
		for _, p := range ps {
			if p.Service == "web" && p.ContainerPort == 8080 && p.HostPort >= portFirst {
				return strings.Contains(g.natRules(), ":8080")
			}
		}
		return false
	})
	// One session per user now: a second one is refused while the first
	// stays open.
	tt := g.tty("alice", "-i", alice, "-o", "BatchMode=yes")
	tt.expect("alice@")
	if r := g.sshKey("alice", alice, "", "whoami"); r.code == 0 || !strings.Contains(r.err+r.out, "sessions open") {
		t.Errorf("second session under a limit of 1: %+v", r)
	}
	tt.send("exit\n")
	tt.wait()

	os.WriteFile(cfg, []byte("[log]\nlevel = \"loud\"\n"), 0o600)
	g.signal(syscall.SIGHUP)
	waitFor(t, "the refused reload", 5*time.Second, func() bool {
		return strings.Contains(g.logs(), "the configuration was not applied")
	})
	if r := g.sshKey("alice", alice, "", "whoami"); r.code != 0 {
		t.Fatalf("after a broken reload: %+v", r)
	}
	select {
	case err := <-g.exited:
		t.Fatalf("the gateway stopped: %v", err)
	default:
	}
}
