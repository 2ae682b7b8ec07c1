package shell

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A command's verbs: the first positional argument picks one, counts and
// unknown words are usage errors in the verb's words, and a command with a
// Run of its own takes what no verb fits.
func TestVerbs(t *testing.T) {
	say := func(what string) func(*Ctx, []string) error {
		return func(c *Ctx, args []string) error {
			fmt.Fprintln(c.Out, what, args)
			return nil
		}
	}
	sh := fullShell()
	sh.Add(&Command{Name: "thing", Args: "VERB", MinArgs: 1, MaxArgs: -1, Summary: "s", Help: "h", Run: say("self"),
		Subs: []*Command{
			{Name: "a", Args: "X", MinArgs: 1, MaxArgs: 1, Run: say("a")},
			{Name: "g", Subs: []*Command{{Name: "b", Run: func(*Ctx, []string) error { return errVerbUsage }}}},
		}},
		&Command{Name: "other", Args: "VERB", MinArgs: 1, MaxArgs: -1, Summary: "s", Help: "h",
			Subs: []*Command{{Name: "a", Run: say("a")}, {Name: "c", Run: say("c")}}})
	for _, tc := range []struct {
		line     string
		code     int
		out, err string
	}{
		{"thing a x", 0, "a [x]\n", ""},
		{"thing a", 0, "self [a]\n", ""},
		{"thing zz", 0, "self [zz]\n", ""},
		{"thing g", 2, "", "usage: thing g b"},
		{"thing g zz", 2, "", "usage: thing g b"},
		{"thing g b", 2, "", "usage: thing g b"},
		{"other c", 0, "c []\n", ""},
		{"other zz", 2, "", `unknown verb "zz"; use a or c`},
		{"other", 2, "", "missing arguments"},
	} {
		code, out, errw := exec(sh, alice, false, tc.line, "")
		if code != tc.code || out != tc.out || !strings.Contains(errw, tc.err) {
			t.Errorf("%s: %d %q %q; want %d %q %q", tc.line, code, out, errw, tc.code, tc.out, tc.err)
		}
	}
	s := &Session{sh: sh, user: alice}
	for line, want := range map[string][]string{"thing ": {"a", "g"}, "thing g ": {"b"}, "other ": {"a", "c"}} {
		if got := s.argCandidates(strings.Fields(line), ""); !slices.Equal(got, want) {
			t.Errorf("%q offers %q, want %q", line, got, want)
		}
	}
}
