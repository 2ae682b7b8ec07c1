package e2e

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// maxExposure is the worst score systemd-analyze may give the packaged unit.
const maxExposure = 2.0

var exposureRE = regexp.MustCompile(`Overall exposure level for lxcgate\.service: ([0-9.]+)`)

// TestUnitScore rates packaging/lxcgate.service with systemd's own sandbox
// analysis, offline (no systemd needs to run), and fails above maxExposure.
func TestUnitScore(t *testing.T) {
	need(t, "systemd-analyze")
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", "../packaging/lxcgate.service").CombinedOutput()
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v, no overall exposure level in:\n%s", err, out)
	}
	score, perr := strconv.ParseFloat(string(m[1]), 64)
	if perr != nil {
		t.Fatalf("exposure %q: %v", m[1], perr)
	}
	t.Logf("lxcgate.service exposure %.1f", score)
	if score > maxExposure {
		t.Fatalf("lxcgate.service rates %.1f, above %.1f:\n%s", score, maxExposure, out)
	}
}
