package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// needLab fails in CI, and skips elsewhere, when the LXD lab is not up.
func needLab(t *testing.T) {
	t.Helper()
	need(t, "lxc", "ip")
	if out, err := exec.Command("../scripts/lab.sh", "status").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the lab is not up (run scripts/lab.sh up):\n%s", out)
		}
		t.Skipf("the lab is not up (run scripts/lab.sh up):\n%s", out)
	}
}

func lxc(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("lxc", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lxc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestLab checks what later tests stand on: a bridge without NAT, both
// images launching with an address on the lab bridge, and the client
// namespace routed through the host.
func TestLab(t *testing.T) {
	needLab(t)
	if nat := strings.TrimSpace(lxc(t, "network", "get", "lxdbr0", "ipv4.nat")); nat != "false" {
		t.Fatalf("lxdbr0 ipv4.nat = %q; the lab must not NAT", nat)
	}
	name := fmt.Sprintf("e2e-lab-%d", time.Now().UnixNano()%1e6)
	lxc(t, "launch", "lxcgate-busybox", name)
	t.Cleanup(func() { exec.Command("lxc", "delete", "--force", name).Run() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		addr := strings.TrimSpace(lxc(t, "list", name, "-c", "4", "--format", "csv"))
		if strings.HasPrefix(addr, "10.166.0.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got no address on lxdbr0 (have %q)", name, addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lxc(t, "image", "info", "lxcgate-debian")
	out, err := exec.Command("ip", "netns", "exec", "lxcgate-client", "ip", "route").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "default via 10.177.0.1") {
		t.Fatalf("client namespace route: %v\n%s", err, out)
	}
}
