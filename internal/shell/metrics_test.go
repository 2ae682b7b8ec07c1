package shell

import (
	"strings"
	"testing"
)

type commandCounts []string

func (c *commandCounts) Command(name, result string) { *c = append(*c, name+" "+result) }

// Commands are counted by their table name; whatever else a user types
// is "unknown", so a mistyped secret never reaches a label.
func TestCommandMetrics(t *testing.T) {
	var got commandCounts
	sh, _, _ := newShellWith(Options{Metrics: &got})
	for _, line := range []string{"whoami", "whoami --nosuch", "secretadmin", "hunter2-password", "help -h", "'unterminated"} {
		exec(sh, alice, false, line, "")
	}
	want := "whoami ok,whoami usage,secretadmin refused,unknown unknown,help ok,unknown usage"
	if strings.Join(got, ",") != want {
		t.Fatalf("counted %q\nwant    %q", strings.Join(got, ","), want)
	}
	// No hook: nothing to call, nothing breaks.
	sh, _, _ = newShell()
	if code, _, _ := exec(sh, alice, false, "whoami", ""); code != 0 {
		t.Fatalf("whoami without metrics: %d", code)
	}
}
