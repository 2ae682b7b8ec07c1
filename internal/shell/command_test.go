package shell

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/webauth"
)

// fullShell is the gateway's whole command table, with no services behind
// it: enough for help, gates and parsing.
func fullShell() *Shell {
	sh := New(Options{Auth: &fakeUsers{}, Audit: &recorder{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Host: "gpu1",
		Services: (*containers.Service)(nil), Public: "gpu1.example.org", Gateway: "gpu1.example.org:2222",
		Admin: (*users.Store)(nil), AuditLog: (*audit.Log)(nil), Web: (*webauth.Auth)(nil)})
	return sh
}

// Every command declares what help, parsing and completion need, and
// nothing collides.
func TestDeclarations(t *testing.T) {
	sh := fullShell()
	names := map[string]string{}
	for _, cmd := range sh.cmds {
		if cmd.Name == "" || cmd.Summary == "" || cmd.Help == "" || (cmd.Run == nil && len(cmd.Subs) == 0) {
			t.Errorf("%q: name, summary, help and handler (or verbs) are all needed: %+v", cmd.Name, cmd)
		}
		checkVerbs(t, cmd.Name, cmd.Subs)
		if (cmd.Args == "") != (cmd.MaxArgs == 0) || (cmd.MaxArgs >= 0 && cmd.MaxArgs < cmd.MinArgs) {
			t.Errorf("%s: Args %q does not fit counts %d..%d", cmd.Name, cmd.Args, cmd.MinArgs, cmd.MaxArgs)
		}
		for _, n := range append([]string{cmd.Name}, cmd.Aliases...) {
			if other, dup := names[n]; dup {
				t.Errorf("%q names both %s and %s", n, other, cmd.Name)
			}
			names[n] = cmd.Name
		}
		flags := map[string]bool{}
		for _, f := range cmd.flags(true) {
			if f.Help == "" {
				t.Errorf("%s --%s has no help", cmd.Name, f.Name)
			}
			for _, n := range []string{"--" + f.Name, "-" + f.Short} {
				if n != "-" && flags[n] {
					t.Errorf("%s: %s declared twice", cmd.Name, n)
				}
				flags[n] = true
			}
			if len(f.Values) > 0 && f.Default != "" && !slices.Contains(f.Values, f.Default) {
				t.Errorf("%s --%s: default %q is not one of %q", cmd.Name, f.Name, f.Default, f.Values)
			}
		}
		if !strings.HasPrefix(cmd.Usage(), cmd.Name) {
			t.Errorf("%s: usage %q", cmd.Name, cmd.Usage())
		}
	}
	for _, want := range []string{"ls", "rm", "info"} {
		if names[want] == "" {
			t.Errorf("no alias %q", want)
		}
	}
}

// checkVerbs checks that each verb has a name and a handler (or verbs of
// its own), counts that fit, and no name twice.
func checkVerbs(t *testing.T, path string, verbs []*Command) {
	t.Helper()
	seen := map[string]bool{}
	for _, v := range verbs {
		if v.Name == "" || seen[v.Name] || (v.Run == nil) == (len(v.Subs) == 0) {
			t.Errorf("%s %q: a name once, and a handler or verbs: %+v", path, v.Name, v)
		}
		if v.MaxArgs >= 0 && v.MaxArgs < v.MinArgs {
			t.Errorf("%s %s: counts %d..%d", path, v.Name, v.MinArgs, v.MaxArgs)
		}
		seen[v.Name] = true
		checkVerbs(t, path+" "+v.Name, v.Subs)
	}
}

// 'CMD -h' prints exactly what 'help CMD' prints, for every role that may
// run the command, and the help names every flag the caller may use.
func TestDashHIsHelp(t *testing.T) {
	sh := fullShell()
	for _, who := range []struct {
		u     users.User
		lobby bool
	}{{alice, false}, {root, false}, {lobby, true}} {
		s := &Session{sh: sh, user: who.u, lobby: who.lobby}
		for _, cmd := range sh.cmds {
			if !s.allowed(cmd) {
				continue
			}
			code1, dash, _ := exec(sh, who.u, who.lobby, cmd.Name+" -h", "")
			code2, long, _ := exec(sh, who.u, who.lobby, cmd.Name+" --help", "")
			code3, help, _ := exec(sh, who.u, who.lobby, "help "+cmd.Name, "")
			if code1 != 0 || code2 != 0 || code3 != 0 || dash != help || long != help || dash == "" {
				t.Errorf("%s as %s: -h (%d) %q\n--help (%d)\nhelp (%d) %q", cmd.Name, who.u.Name, code1, dash, code2, code3, help)
			}
			for _, f := range cmd.flags(who.u.IsAdmin() && !who.lobby) {
				if !strings.Contains(help, "--"+f.Name) || !strings.Contains(help, f.Help) {
					t.Errorf("help %s lacks --%s", cmd.Name, f.Name)
				}
			}
			_, table, _ := strings.Cut(help, "\nflags:\n")
			for _, f := range cmd.Flags {
				if f.Admin && !who.u.IsAdmin() && strings.Contains(table, "--"+f.Name+" ") {
					t.Errorf("help %s shows admin-only --%s to %s", cmd.Name, f.Name, who.u.Name)
				}
			}
		}
	}
	// The usage a command's own errors refer to is the one help shows.
	if _, out, _ := exec(sh, alice, false, "help key", ""); !strings.Contains(out, "--json") || !strings.Contains(out, "--format FORMAT") {
		t.Errorf("help key:\n%s", out)
	}
}

// sample is a value each kind of flag takes.
func sample(f cli.Flag) string {
	switch {
	case len(f.Values) > 0:
		return f.Values[len(f.Values)-1]
	case f.Kind == cli.Int:
		return "1"
	case f.Kind == cli.Size:
		return "1GiB"
	}
	return "x"
}

// No command is reachable past its gate: every command refused in the
// lobby or to a user runs nothing, nor does an admin-only flag or argument;
// each same line reaches the handler for those it is meant for.
func TestGatesWalkTheTable(t *testing.T) {
	sh := fullShell()
	ran := map[string]int{}
	for _, cmd := range sh.cmds {
		name := cmd.Name
		cmd.Run = func(*Ctx, []string) error { ran[name]++; return nil }
	}
	try := func(u users.User, lob bool, line, name string, allowed bool) {
		t.Helper()
		before := ran[name]
		code, _, errw := exec(sh, u, lob, line, "")
		reached := ran[name] > before
		switch {
		case allowed && (!reached || code != 0):
			t.Errorf("%q as %s (lobby %v): %d %q; want it to run", line, u.Name, lob, code, errw)
		case !allowed && (reached || code != 1 || !strings.Contains(errw, "needs the admin role") && !strings.Contains(errw, "lobby")):
			t.Errorf("%q as %s (lobby %v): ran %v, %d %q; want it refused", line, u.Name, lob, reached, code, errw)
		}
	}
	for _, cmd := range sh.cmds {
		line := strings.TrimSpace(cmd.Name + strings.Repeat(" x", cmd.MinArgs))
		try(lobby, true, line, cmd.Name, cmd.Lobby)
		if !cmd.Lobby {
			// Not even its help: the lobby sees only what it may run.
			if code, out, errw := exec(sh, lobby, true, cmd.Name+" -h", ""); code != 1 || out != "" || !strings.Contains(errw, "lobby") {
				t.Errorf("%s -h in the lobby: %d %q %q", cmd.Name, code, out, errw)
			}
		}
		try(alice, false, line, cmd.Name, !cmd.Admin)
		try(root, false, line, cmd.Name, true)
		for _, f := range cmd.Flags {
			fl := line + " --" + f.Name
			if f.TakesValue() {
				fl += " " + sample(f)
			}
			try(alice, false, fl, cmd.Name, !cmd.Admin && !f.Admin)
			try(root, false, fl, cmd.Name, true)
		}
		if cmd.AdminArgs {
			try(alice, false, cmd.Name+" bob", cmd.Name, false)
			try(root, false, cmd.Name+" bob", cmd.Name, true)
		}
	}
}

// Flags through pflag: short forms, anywhere among the arguments, "--"
// ends them, a flag given twice is refused, errors quote the flag as typed.
func TestFlagParsing(t *testing.T) {
	sh := fullShell()
	var got []string
	var force, yes bool
	del := sh.lookupName("delete")
	del.Run = func(c *Ctx, a []string) error {
		got, force, yes = a, c.Flags.Bool("force"), c.Flags.Bool("yes")
		return nil
	}
	for _, tc := range []struct {
		line        string
		args        []string
		force, yes  bool
		code        int
		errContains string
	}{
		{line: "delete dev -f --yes", args: []string{"dev"}, force: true, yes: true},
		{line: "rm --yes dev --force", args: []string{"dev"}, force: true, yes: true},
		{line: "delete -yes -force dev", args: []string{"dev"}, force: true, yes: true},
		{line: "delete --yes -- -f", args: []string{"-f"}, yes: true},
		{line: "delete dev -f -f", code: 2, errContains: "flag -f is given more than once; give it once"},
		{line: "delete dev -f --force", code: 2, errContains: "flag -f and --force is given more than once"},
		{line: "delete dev --yes=maybe", code: 2, errContains: `invalid value "maybe" for --yes`},
		{line: "delete dev -x", code: 2, errContains: "unknown flag -x (see 'help delete')"},
		{line: "delete dev -bogus", code: 2, errContains: "unknown flag -bogus"},
		{line: "delete dev --bogus", code: 2, errContains: "unknown flag --bogus"},
		{line: "delete", code: 2, errContains: "missing arguments"},
		{line: "delete a b", code: 2, errContains: "too many arguments"},
	} {
		got, force, yes = nil, false, false
		code, _, errw := exec(sh, alice, false, tc.line, "")
		if code != tc.code || !strings.Contains(errw, tc.errContains) || strings.Count(errw, "\n") > 1 {
			t.Errorf("%s: %d %q; want %d %q", tc.line, code, errw, tc.code, tc.errContains)
			continue
		}
		if tc.code == 0 && (strings.Join(got, ",") != strings.Join(tc.args, ",") || force != tc.force || yes != tc.yes) {
			t.Errorf("%s: args %q force %v yes %v", tc.line, got, force, yes)
		}
	}
	for _, tc := range []struct{ line, want string }{
		{"whoami --format xml", `invalid value "xml" for --format: use table, json, yaml or csv`},
		{"whoami --json --format yaml", "--json and --format yaml disagree"},
		{"create x --cpu 1 --cpu 64", "flag --cpu is given more than once"},
		{"create x --cpu=99999999999999999999", `invalid value "99999999999999999999" for --cpu: value out of range`},
		{"create x --memory", "flag --memory needs a value"},
	} {
		if code, _, errw := exec(sh, alice, false, tc.line, ""); code != 2 || !strings.Contains(errw, tc.want) {
			t.Errorf("%s: %d %q; want %q", tc.line, code, errw, tc.want)
		}
	}
}

// lookupName finds a command by name or alias.
func (sh *Shell) lookupName(name string) *Command {
	return (&Session{sh: sh}).lookup(name)
}

// A Secret command's arguments stay out of the audit, whatever the flags.
func TestSecretArgumentsRedacted(t *testing.T) {
	sh, _, rec := newShell()
	exec(sh, lobby, true, "login bob --stdin", "hunter2-password\n")
	exec(sh, alice, false, "passwd --stdin hunter3", "")
	if a := rec.all(); strings.Contains(a, "hunter") || !strings.Contains(a, "login [redacted] --stdin") {
		t.Fatalf("audit:\n%s", a)
	}
}
