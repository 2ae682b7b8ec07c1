package shell

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/users"
)

// script runs stdin as a piped script, as `ssh -T gw < file` does.
func script(sh *Shell, u users.User, stdin io.Reader, refresh func(context.Context, string) (users.User, error)) (int, string, string) {
	var out, errw bytes.Buffer
	code := sh.Run(context.Background(), IO{Stdin: stdin, Stdout: &out, Stderr: &errw, Remote: "192.0.2.7:1",
		Refresh: refresh}, u, false, "", false)
	return code, out.String(), errw.String()
}

// zeros is an endless stream without a newline: /dev/zero.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

// Scenario: `head -c 200M /dev/zero | ssh -T gw`. The script ends after at
// most one bounded line, having read no more than the bound.
func TestEndlessLineEndsScript(t *testing.T) {
	sh, _, rec := newShell()
	z := &zeros{}
	code, _, errw := script(sh, alice, z, nil)
	if code != exitUsage || !strings.Contains(errw, "longer than 64 KiB") || strings.Count(errw, "\n") != 1 {
		t.Fatalf("code %d err %q", code, errw)
	}
	if z.n > MaxLine+8192 {
		t.Fatalf("read %d bytes for a line bound of %d", z.n, MaxLine)
	}
	if strings.Contains(rec.all(), "\x00") {
		t.Fatal("the audit holds the input")
	}
	// A line of exactly the bound is still a line.
	code, _, errw = script(sh, alice, strings.NewReader("whoami"+strings.Repeat(" ", MaxLine-6)+"\n"), nil)
	if code != 0 {
		t.Fatalf("a line at the bound: %d %q", code, errw)
	}
	code, _, errw = exec(sh, alice, false, "whoami "+strings.Repeat("x", MaxLine), "")
	if code != exitUsage || !strings.Contains(errw, "nothing was run") {
		t.Fatalf("exec line over the bound: %d %q", code, errw)
	}
}

// Scenario: a password typed where a command was expected, as a command
// line or after an unterminated quote, is never recorded.
func TestLinesThatRunNothingAreNotRecorded(t *testing.T) {
	sh, _, rec := newShell()
	for _, line := range []string{"MyPassw0rd", "'MyPassw0rd", `login bob 'MyPassw0rd`, "MyPassw0rd extra words"} {
		exec(sh, alice, false, line, "")
	}
	a := rec.all()
	if strings.Contains(a, "MyPassw0rd") || strings.Contains(a, "bob") {
		t.Fatalf("audit holds what was typed:\n%s", a)
	}
	if !strings.Contains(a, "login => quoting error") || !strings.Contains(a, "[unknown] => unknown command") {
		t.Fatalf("audit lacks the refusals:\n%s", a)
	}
}

// Scenario: a script pipes `passwd` (refused: no terminal, no --stdin)
// followed by the password itself. The script stops at the refusal, so the
// password is neither run nor recorded.
func TestScriptEndsAtRefusedSecretPrompt(t *testing.T) {
	sh, _, rec := newShell()
	for _, first := range []string{"passwd", "login", "login bob"} {
		code, out, errw := script(sh, alice, strings.NewReader(first+"\nMyPassw0rd\nwhoami\n"), nil)
		if code != exitFail || strings.Contains(errw, "unknown command") || strings.Contains(out, "alice (user)") {
			t.Fatalf("%s: code %d out %q err %q", first, code, out, errw)
		}
	}
	if strings.Contains(rec.all(), "MyPassw0rd") {
		t.Fatalf("audit:\n%s", rec.all())
	}
}

// Scenario: an admin is demoted, then disabled, while their session is open.
// The next command runs with the new role; after the disable nothing runs.
func TestRefreshBeforeEachCommand(t *testing.T) {
	sh, _, rec := newShell()
	calls := 0
	refresh := func(_ context.Context, name string) (users.User, error) {
		calls++
		switch calls {
		case 1:
			return users.User{Name: name, Role: users.RoleAdmin}, nil
		case 2:
			return users.User{Name: name, Role: users.RoleUser}, nil
		}
		return users.User{}, users.ErrDisabled
	}
	code, out, errw := script(sh, root, strings.NewReader("secretadmin\nsecretadmin\nwhoami\nwhoami\n"), refresh)
	if code != exitFail || strings.Count(out, "admin ran") != 1 || !strings.Contains(errw, "needs the admin role") ||
		!strings.Contains(errw, "no longer allowed") || strings.Contains(out, "root1 (") {
		t.Fatalf("code %d out %q err %q", code, out, errw)
	}
	if calls != 3 {
		t.Fatalf("refresh called %d times; the session went on after the disable", calls)
	}
	if !strings.Contains(rec.all(), "refused: your account is no longer allowed") {
		t.Fatalf("refusal not audited:\n%s", rec.all())
	}
}
