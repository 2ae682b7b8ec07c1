package shell

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's generated help blocks")

// TestREADMEHelp keeps README.md's "The shell" help blocks equal to what
// 'help' prints: a regular user's whole list, then the lines an admin's
// differs in. After changing a command's declaration, regenerate them:
//
//	go test ./internal/shell -run TestREADMEHelp -update
func TestREADMEHelp(t *testing.T) {
	sh := fullShell()
	_, user, _ := exec(sh, alice, false, "help", "")
	_, admin, _ := exec(sh, root, false, "help", "")
	var differ []string
	for _, line := range strings.Split(admin, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.Contains(user, line+"\n") {
			differ = append(differ, line)
		}
	}
	if len(differ) == 0 {
		t.Fatal("an admin's help is a user's: the README's second block would be empty")
	}
	checkREADME(t, "../../README.md", map[string]string{
		"help:user":  user,
		"help:admin": strings.Join(differ, "\n") + "\n",
	})
}

// checkREADME compares each marked block of the README (a fenced block
// between <!-- NAME --> and <!-- /NAME -->) with want, or rewrites them
// with -update.
func checkREADME(t *testing.T, path string, want map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for name, body := range want {
		begin, end := "<!-- "+name+" -->\n", "<!-- /"+name+" -->"
		i, j := strings.Index(text, begin), strings.Index(text, end)
		if i < 0 || j < i {
			t.Fatalf("%s has no block marked %q ... %q", path, begin, end)
		}
		block := "```\n" + body + "```\n"
		if got := text[i+len(begin) : j]; got != block {
			if !*update {
				t.Errorf("%s's %s block differs from what the code prints; regenerate it with\n"+
					"  go test ./internal/shell -run TestREADMEHelp -update\ngot:\n%s\nwant:\n%s", path, name, got, block)
				continue
			}
			text = text[:i+len(begin)] + block + text[j:]
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
