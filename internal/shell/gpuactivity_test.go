package shell

import (
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// Regression: a container holding a cluster member's GPU was idle-judged
// by the gateway host's own nvidia-smi, silently. Its GPU activity is
// unknown to the gateway, and details says so (and what decides instead).
func TestDetailsSaysMemberGPUActivityUnknown(t *testing.T) {
	sh, fake := newContainerShell(t)
	fake.Cluster = []lxd.Member{
		{Name: "member3", Status: "Online", Online: true, Groups: []string{"gpu"}, SimGPUs: 2, Subnet: "10.200.3.128/25"},
	}
	fake.Resources = map[string]lxd.Resources{"member3": {MemoryTotal: 4 << 30, MemoryUsed: 1 << 30, CPUs: 4}}
	if code, _, errw := exec(sh, alice, false, "launch g --gpu sim0", ""); code != 0 {
		t.Fatalf("launch: %d %s", code, errw)
	}
	_, out, _ := exec(sh, alice, false, "details g", "")
	if !strings.Contains(out, "gpu activity:") || !strings.Contains(out, "unknown on member3") {
		t.Fatalf("details does not say the member's GPU activity is unknown:\n%s", out)
	}
	// A single host's own GPUs (or none) get no such line.
	if code, _, errw := exec(sh, alice, false, "launch plain", ""); code != 0 {
		t.Fatalf("launch: %d %s", code, errw)
	}
	if _, out, _ := exec(sh, alice, false, "details plain", ""); strings.Contains(out, "gpu activity") {
		t.Fatalf("details of a container without a member's GPU:\n%s", out)
	}
}
