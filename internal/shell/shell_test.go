package shell

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/testlog"
	"github.com/lxcgate/lxcgate/internal/users"
)

type fakeUsers struct {
	mu  sync.Mutex
	pws map[string]string
}

func (f *fakeUsers) Password(_ context.Context, name, pw, _ string) (users.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if want, ok := f.pws[name]; ok && want == pw {
		return users.User{Name: name, Role: users.RoleUser, HasPassword: true}, nil
	}
	return users.User{}, users.ErrAuth
}

func (f *fakeUsers) ChangePassword(_ context.Context, name, old, pw, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pws[name] != old {
		return users.ErrAuth
	}
	f.pws[name] = pw
	return nil
}

type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(_ context.Context, e audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		b.WriteString(e.Kind + " " + e.User + " " + e.Detail + "\n")
	}
	return b.String()
}

var (
	alice = users.User{Name: "alice", Role: users.RoleUser, HasPassword: true}
	root  = users.User{Name: "root1", Role: users.RoleAdmin}
	lobby = users.User{Name: "lab", Role: users.RoleUser}
)

func newShell() (*Shell, *fakeUsers, *recorder) {
	return newShellWith(Options{})
}

// newShellWith builds a shell from o, with fake users and audit, and two
// commands of the tests' own.
func newShellWith(o Options) (*Shell, *fakeUsers, *recorder) {
	fu := &fakeUsers{pws: map[string]string{"alice": "alice-secret", "bob": "bob-secret"}}
	rec := &recorder{}
	o.Auth, o.Audit, o.Log, o.Host = fu, rec, slog.New(slog.NewTextHandler(io.Discard, nil)), "gpu1"
	sh := New(o)
	sh.Add(&Command{Name: "secretadmin", Summary: "admin only", Admin: true, Run: func(c *Ctx, _ []string) error {
		io.WriteString(c.Out, "admin ran\n")
		return nil
	}})
	sh.Add(&Command{Name: "boom", Summary: "panics", Run: func(*Ctx, []string) error { panic("kaboom") }})
	return sh, fu, rec
}

// exec runs one command line without a PTY, as `ssh gw LINE` does.
func exec(sh *Shell, u users.User, lobbyUser bool, line, stdin string) (int, string, string) {
	var out, errw bytes.Buffer
	code := sh.Run(context.Background(), IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errw,
		Remote: "192.0.2.7:5555", Method: "publickey"}, u, lobbyUser, line, true)
	return code, out.String(), errw.String()
}

func TestExec(t *testing.T) {
	sh, _, _ := newShell()
	for _, tc := range []struct {
		line, stdin string
		user        users.User
		lobby       bool
		code        int
		out, err    string
	}{
		{line: "whoami", user: alice, out: "alice (user), from 192.0.2.7 by publickey\n"},
		{line: "whoami --json", user: alice, out: `"name": "alice"`},
		{line: "whoami extra", user: alice, code: 2, err: "too many arguments (see 'help whoami')"},
		{line: "whoami --bogus", user: alice, code: 2, err: "unknown flag --bogus (see 'help whoami')"},
		{line: "lsit", user: alice, code: 127, err: `unknown command "lsit"`},
		{line: "whomai", user: alice, code: 127, err: `did you mean "whoami"?`},
		{line: `whoami "`, user: alice, code: 2, err: "nothing was run"},
		{line: "help", user: alice, out: "passwd [flags]"},
		{line: "help whoami", user: alice, out: "usage: whoami [flags]"},
		{line: "help nope", user: alice, code: 1, err: `no command "nope"`},
		{line: "secretadmin", user: alice, code: 1, err: "needs the admin role"},
		{line: "secretadmin", user: root, out: "admin ran"},
		{line: "help secretadmin", user: alice, code: 1, err: `no command "secretadmin"`},
		{line: "whoami", user: lobby, lobby: true, code: 1, err: "not available in the lobby; type 'login' first"},
		{line: "exit", user: alice},
		{line: "logout", user: alice},
		{line: "boom", user: alice, code: 1, err: "boom failed unexpectedly"},
		{line: "passwd", user: alice, code: 1, err: "needs a terminal"},
		{line: "login", user: lobby, lobby: true, code: 1, err: "give the user name"},
		{line: "login alice", user: lobby, lobby: true, code: 1, err: "needs a terminal"},
	} {
		code, out, errw := exec(sh, tc.user, tc.lobby, tc.line, tc.stdin)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%s as %s: code %d, out %q, err %q; want %d, %q, %q", tc.line, tc.user.Name, code, out, errw, tc.code, tc.out, tc.err)
		}
		if strings.Count(errw, "\n") > 1 {
			t.Errorf("%s: error is not one line: %q", tc.line, errw)
		}
	}
}

func TestHelpHidesWhatTheLobbyCannotRun(t *testing.T) {
	sh, _, _ := newShell()
	_, out, _ := exec(sh, lobby, true, "help", "")
	for _, want := range []string{"login", "help", "exit"} {
		if !strings.Contains(out, want) {
			t.Errorf("lobby help lacks %s", want)
		}
	}
	for _, not := range []string{"whoami", "passwd", "secretadmin"} {
		if strings.Contains(out, not) {
			t.Errorf("lobby help shows %s:\n%s", not, out)
		}
	}
}

func TestPasswdFromStdin(t *testing.T) {
	sh, fu, rec := newShell()
	code, _, errw := exec(sh, alice, false, "passwd --stdin", "alice-secret\nnew-secret-1\nnew-secret-2\n")
	if code != 1 || !strings.Contains(errw, "differ") || fu.pws["alice"] != "alice-secret" {
		t.Fatalf("mismatch: %d %q", code, errw)
	}
	code, _, errw = exec(sh, alice, false, "passwd --stdin", "wrong\nnew-secret-1\nnew-secret-1\n")
	if code != 1 || !strings.Contains(errw, "current password is wrong") {
		t.Fatalf("wrong old: %d %q", code, errw)
	}
	code, _, errw = exec(sh, alice, false, "passwd --stdin", "alice-secret\nnew-secret-1\nnew-secret-1\n")
	if code != 0 || fu.pws["alice"] != "new-secret-1" {
		t.Fatalf("change: %d %q", code, errw)
	}
	if strings.Contains(rec.all(), "secret") {
		t.Fatalf("audit holds a password:\n%s", rec.all())
	}
}

func TestLobbyLoginThenCommands(t *testing.T) {
	sh, _, rec := newShell()
	// A script piped to the lobby: log in, then run a user's command.
	var out, errw bytes.Buffer
	code := sh.Run(context.Background(), IO{Stdin: strings.NewReader("login --stdin\nalice\nalice-secret\nwhoami\n"),
		Stdout: &out, Stderr: &errw, Remote: "192.0.2.7:1"}, lobby, true, "", false)
	if code != 0 || !strings.Contains(out.String(), "alice (user)") || !strings.Contains(errw.String(), "Logged in as alice") {
		t.Fatalf("code %d out %q err %q", code, out.String(), errw.String())
	}
	out.Reset()
	errw.Reset()
	code = sh.Run(context.Background(), IO{Stdin: strings.NewReader("login bob --stdin\nwrong\nwhoami\n"),
		Stdout: &out, Stderr: &errw, Remote: "192.0.2.7:1"}, lobby, true, "", false)
	if code != 1 || !strings.Contains(errw.String(), "incorrect user name or password") || strings.Contains(out.String(), "bob") {
		t.Fatalf("bad login: code %d out %q err %q", code, out.String(), errw.String())
	}
	if a := rec.all(); strings.Contains(a, "alice-secret") || strings.Contains(a, "wrong") && !strings.Contains(a, "login bob") {
		t.Fatalf("audit:\n%s", a)
	}
}

func TestScriptStopsAtExit(t *testing.T) {
	sh, _, _ := newShell()
	var out, errw bytes.Buffer
	code := sh.Run(context.Background(), IO{Stdin: strings.NewReader("whoami\n\nnope\nexit\nwhoami\n"),
		Stdout: &out, Stderr: &errw}, alice, false, "", false)
	if code != 0 || strings.Count(out.String(), "alice (user)") != 1 || !strings.Contains(errw.String(), "unknown command") {
		t.Fatalf("code %d out %q err %q", code, out.String(), errw.String())
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"list", "list", 0}, {"lsit", "list", 1}, {"lis", "list", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}} {
		if d := distance(tc.a, tc.b); d != tc.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}

// terminal drives an interactive session through a fake PTY.
type terminal struct {
	in   *io.PipeWriter
	out  testlog.Buffer // what the shell wrote to the PTY
	done chan int
}

func (t *terminal) Write(p []byte) (int, error) { return t.out.Write(p) }

func (t *terminal) screen() string { return t.out.String() }

func (t *terminal) waitFor(tb testing.TB, s string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(t.screen(), s) {
		if time.Now().After(deadline) {
			tb.Fatalf("waiting for %q; screen:\n%s", s, t.screen())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startTerminal(sh *Shell, u users.User, lobbyUser bool) *terminal {
	pr, pw := io.Pipe()
	t := &terminal{in: pw, done: make(chan int, 1)}
	go func() {
		t.done <- sh.Run(context.Background(), IO{Stdin: pr, Stdout: t, Stderr: t, PTY: true,
			Window: Window{80, 24}, Close: func() { pw.Close() }, Remote: "192.0.2.7:1"}, u, lobbyUser, "", false)
	}()
	return t
}

func TestInteractive(t *testing.T) {
	sh, _, _ := newShell()
	term := startTerminal(sh, alice, false)
	term.waitFor(t, "alice@gpu1> ")
	io.WriteString(term.in, "whoami\r")
	term.waitFor(t, "alice (user)")
	// Output under a PTY has \r\n line ends.
	if !strings.Contains(term.screen(), "by \r\n") && !strings.Contains(term.screen(), "\r\n") {
		t.Fatalf("no CRLF on the terminal: %q", term.screen())
	}
	// Tab completes a command name; Ctrl-C drops the line and keeps the shell.
	io.WriteString(term.in, "who\t")
	term.waitFor(t, "whoami ")
	io.WriteString(term.in, "\x03")
	term.waitFor(t, "^C")
	io.WriteString(term.in, "nope\r")
	term.waitFor(t, `unknown command "nope"`)
	// An empty line does nothing, and does not repeat the last command.
	before := strings.Count(term.screen(), "unknown command")
	io.WriteString(term.in, "\r")
	io.WriteString(term.in, "help\r")
	term.waitFor(t, "Type 'help COMMAND'")
	if strings.Count(term.screen(), "unknown command") != before {
		t.Fatal("empty line repeated a command")
	}
	// Ctrl-D on an empty line ends the session.
	io.WriteString(term.in, "\x04")
	select {
	case code := <-term.done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Ctrl-D did not end the session")
	}
}

func TestInteractivePasswordIsNotEchoed(t *testing.T) {
	sh, fu, _ := newShell()
	term := startTerminal(sh, alice, false)
	term.waitFor(t, "alice@gpu1> ")
	io.WriteString(term.in, "passwd\r")
	term.waitFor(t, "Current password: ")
	io.WriteString(term.in, "alice-secret\r")
	term.waitFor(t, "New password: ")
	io.WriteString(term.in, "brand-new-pw\r")
	term.waitFor(t, "Repeat new password: ")
	io.WriteString(term.in, "brand-new-pw\r")
	term.waitFor(t, "Password changed.")
	if strings.Contains(term.screen(), "secret") || strings.Contains(term.screen(), "brand-new") {
		t.Fatalf("password echoed: %q", term.screen())
	}
	if fu.pws["alice"] != "brand-new-pw" {
		t.Fatal("password not changed")
	}
	io.WriteString(term.in, "exit\r")
	<-term.done
}

func TestDrainEndsIdleSession(t *testing.T) {
	sh, _, _ := newShell()
	term := startTerminal(sh, alice, false)
	term.waitFor(t, "alice@gpu1> ")
	sh.Drain()
	term.waitFor(t, "restarting")
	select {
	case <-term.done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle session did not end on drain")
	}
}

func TestInterruptCancelsCommand(t *testing.T) {
	sh, _, _ := newShell()
	started := make(chan struct{})
	sh.Add(&Command{Name: "wait", Summary: "waits", Run: func(c *Ctx, _ []string) error {
		close(started)
		<-c.Context().Done()
		return errors.New("wait: cancelled")
	}})
	term := startTerminal(sh, alice, false)
	term.waitFor(t, "alice@gpu1> ")
	io.WriteString(term.in, "wait\r")
	<-started
	io.WriteString(term.in, "\x03")
	term.waitFor(t, "wait: cancelled")
	io.WriteString(term.in, "whoami\r")
	term.waitFor(t, "alice (user)")
	term.in.Close()
	<-term.done
}

// Regression: Ctrl-D typed while a command was still finishing was taken
// for an interrupt and the session never ended. At a command's own prompt
// it cancels the command; anywhere else it reaches the shell and logs out.
func TestCtrlD(t *testing.T) {
	sh, _, _ := newShell()
	release := make(chan struct{})
	sh.Add(&Command{Name: "slow", Summary: "waits", Run: func(c *Ctx, _ []string) error {
		<-release
		io.WriteString(c.Out, "slow done\n")
		return nil
	}})
	term := startTerminal(sh, alice, false)
	term.waitFor(t, "alice@gpu1> ")
	io.WriteString(term.in, "passwd\r")
	term.waitFor(t, "Current password: ")
	io.WriteString(term.in, "\x04")
	term.waitFor(t, "passwd: cancelled")
	io.WriteString(term.in, "slow\r")
	go func() { time.Sleep(50 * time.Millisecond); close(release) }()
	io.WriteString(term.in, "\x04") // typed ahead, while slow runs
	select {
	case <-term.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Ctrl-D after a command did not log out:\n%s", term.screen())
	}
	if !strings.Contains(term.screen(), "slow done") {
		t.Fatalf("the command was cut: %s", term.screen())
	}
}

var (
	_ Authenticator = (*fakeUsers)(nil)
	_ Auditor       = (*recorder)(nil)
)
