package shell

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Every listing takes --format and --json, with the same keys in each
// format, and times in UTC.
func TestListingFormats(t *testing.T) {
	sh, _ := newContainerShell(t)
	exec(sh, alice, false, "launch dev", "")
	exec(sh, alice, false, "keys add ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl c", "")
	listings := []string{"list", "images", "snapshots dev", "ports dev", "gpus", "keys", "whoami", "quota", "details dev", "sshconfig"}
	for _, l := range listings {
		code, j, errw := exec(sh, alice, false, l+" --json", "")
		_, j2, _ := exec(sh, alice, false, l+" --format json", "")
		var v any
		if code != 0 || j != j2 || json.Unmarshal([]byte(j), &v) != nil {
			t.Errorf("%s --json: %d %q %q", l, code, j, errw)
			continue
		}
		for _, f := range []string{"yaml", "csv", "table"} {
			if code, out, errw := exec(sh, alice, false, l+" --format "+f, ""); code != 0 || (out == "" && f != "table") {
				t.Errorf("%s --format %s: %d %q %q", l, f, code, out, errw)
			}
		}
		_, y, _ := exec(sh, alice, false, l+" --format yaml", "")
		if m, ok := v.(map[string]any); ok {
			for k := range m {
				if !strings.Contains(y, k+":") {
					t.Errorf("%s yaml lacks %q:\n%s", l, k, y)
				}
			}
		}
	}
	_, j, _ := exec(sh, alice, false, "details dev --json", "")
	var d struct{ Created string }
	json.Unmarshal([]byte(j), &d)
	if _, err := time.Parse(time.RFC3339, d.Created); err != nil || !strings.HasSuffix(d.Created, "Z") {
		t.Errorf("created %q is not RFC 3339 in UTC", d.Created)
	}
	if _, out, _ := exec(sh, alice, false, "details dev", ""); !strings.Contains(out, " UTC\n") {
		t.Errorf("details table time not in UTC:\n%s", out)
	}
	if _, out, _ := exec(sh, alice, false, "key dev --list --format csv", ""); !strings.HasPrefix(out, "fingerprint,type,comment,issued\n") {
		t.Errorf("key --list csv: %q", out)
	}
}
