package shell

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// adminShell is a shell whose user command works on a real temp database
// holding root1 (admin) and alice.
func adminShell(t *testing.T) (*Shell, *users.Store, *recorder) {
	t.Helper()
	st := users.New(storetest.Open(t))
	ctx := context.Background()
	if _, err := st.Add(ctx, "root1", users.RoleAdmin, "root1-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, "alice", users.RoleUser, "alice-password"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	sh := New(Options{Auth: &fakeUsers{}, Audit: rec, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Host: "gpu1", Admin: st})
	return sh, st, rec
}

func authorizedKey(t *testing.T, comment string) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := gossh.NewPublicKey(pub)
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k))) + " " + comment
}

// No user subcommand runs for a non-admin or in the lobby, and nothing
// changes.
func TestUserCommandsGated(t *testing.T) {
	sh, st, _ := adminShell(t)
	lines := []string{"user list", "user list --json", "user add bob --password-stdin", "user add bob --admin --password-stdin",
		"user del alice", "user disable root1", "user enable alice", "user passwd root1 --password-stdin", "user role alice admin",
		"user key add alice " + authorizedKey(t, "x"), "user key list root1", "user key del root1 SHA256:x", "help user", "user -h"}
	for _, line := range lines {
		for _, who := range []struct {
			u     users.User
			lobby bool
		}{{alice, false}, {lobby, true}} {
			code, out, errw := exec(sh, who.u, who.lobby, line, "bob-password-1\n")
			if code != 1 || out != "" || !(strings.Contains(errw, "needs the admin role") || strings.Contains(errw, "lobby") || strings.Contains(errw, "no command")) {
				t.Errorf("%q as %s: %d %q %q", line, who.u.Name, code, out, errw)
			}
		}
	}
	list, _ := st.List(context.Background())
	if len(list) != 2 || list[0].Role != users.RoleUser || list[1].Role != users.RoleAdmin {
		t.Fatalf("users changed: %+v", list)
	}
}

// userCase is one line of the user command's script: what it reads, and
// the exit code and output it must give.
type userCase struct {
	line, stdin string
	code        int
	out, err    string
}

// userCases adds, changes and deletes bob and carol in turn; key is bob's
// public key.
func userCases(key string) []userCase {
	return []userCase{
		{line: "user add bob --password-stdin", stdin: "bob-password-1\n", err: "Added bob (user)."},
		{line: "user add bob --password-stdin", stdin: "bob-password-1\n", code: 1, err: "bob exists"},
		{line: "user add Bad! --password-stdin", stdin: "bob-password-1\n", code: 1, err: "user add:"},
		{line: "user add carol --password-stdin", stdin: "short\n", code: 1, err: "nothing changed"},
		{line: "user add carol", code: 1, err: "--password-stdin"},
		{line: "user add carol --admin --password-stdin", stdin: "carol-password-1\n", err: "Added carol (admin)."},
		{line: "user list", out: "bob    user   enabled"},
		{line: "user list --json", out: `"name": "carol"`},
		{line: "user list extra", code: 2, err: "usage: user list"},
		{line: "user frob", code: 2, err: `unknown verb "frob"`},
		{line: "user passwd bob --password-stdin", stdin: "bob-password-2\n", err: "Password of bob changed."},
		{line: "user passwd nobody --password-stdin", stdin: "bob-password-2\n", code: 1, err: "user passwd:"},
		{line: "user role bob admin", err: "bob is now admin."},
		{line: "user role bob boss", code: 2, err: "usage: user role NAME admin|user"},
		{line: "user role bob user", err: "bob is now user."},
		{line: "user disable bob", err: "Disabled bob."},
		{line: "user enable bob", err: "Enabled bob."},
		{line: "user key add bob " + key, err: "bob@laptop to bob."},
		{line: "user key add bob " + key, code: 1, err: "user key add:"},
		{line: "user key list bob", out: "bob@laptop"},
		{line: "user key list bob --json", out: `"fingerprint": "SHA256:`},
		{line: "user key del bob SHA256:nope", code: 1, err: "user key del:"},
		{line: "user key", code: 2, err: "usage: user key add"},
		{line: "user del nobody", code: 1, err: "user del:"},
		{line: "user del bob", err: "Deleted bob"},
		// The last enabled admin stays: carol goes, root1 cannot.
		{line: "user role carol user", err: "carol is now user."},
		{line: "user role root1 user", code: 1, err: "last enabled admin"},
		{line: "user disable root1", code: 1, err: "last enabled admin"},
		{line: "user del root1", code: 1, err: "last enabled admin"},
	}
}

func TestUserCommands(t *testing.T) {
	sh, st, rec := adminShell(t)
	ctx := context.Background()
	key := authorizedKey(t, "bob@laptop")
	for _, tc := range userCases(key) {
		code, out, errw := exec(sh, root, false, tc.line, tc.stdin)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%s: code %d, out %q, err %q; want %d, %q, %q", tc.line, code, out, errw, tc.code, tc.out, tc.err)
		}
		if strings.Count(errw, "\n") > 1 {
			t.Errorf("%s: error is not one line: %q", tc.line, errw)
		}
	}
	if _, err := st.Authenticate(ctx, "carol", "carol-password-1"); err != nil {
		t.Fatalf("carol's password: %v", err)
	}
	// Piped keys, several lines.
	k1, k2 := authorizedKey(t, "one"), authorizedKey(t, "two")
	if code, _, errw := exec(sh, root, false, "user key add alice", k1+"\n"+k2+"\n"); code != 0 || strings.Count(errw, "Added") != 2 {
		t.Fatalf("piped keys: %d %q", code, errw)
	}
	a := rec.all()
	for _, want := range []string{"command root1 user del bob => ok", "command root1 user role root1 user => user role: cannot remove the last enabled admin"} {
		if !strings.Contains(a, want) {
			t.Errorf("audit lacks %q:\n%s", want, a)
		}
	}
	if strings.Contains(a, "password-1") || strings.Contains(a, "password-2") {
		t.Fatalf("audit holds a password:\n%s", a)
	}
}

// On a terminal, user add asks for the password twice without echo.
func TestUserAddOnTerminal(t *testing.T) {
	sh, st, _ := adminShell(t)
	term := startTerminal(sh, root, false)
	term.waitFor(t, "root1@gpu1> ")
	io.WriteString(term.in, "user add dave\r")
	term.waitFor(t, "Password: ")
	io.WriteString(term.in, "dave-password-1\r")
	term.waitFor(t, "Repeat password: ")
	io.WriteString(term.in, "dave-password-1\r")
	term.waitFor(t, "Added dave (user).")
	io.WriteString(term.in, "user passwd dave\r")
	term.waitFor(t, "Password: ")
	io.WriteString(term.in, "dave-password-2\r")
	io.WriteString(term.in, "dave-password-3\r")
	term.waitFor(t, "the passwords differ; nothing changed")
	if strings.Contains(term.screen(), "dave-password") {
		t.Fatalf("password echoed: %q", term.screen())
	}
	io.WriteString(term.in, "exit\r")
	<-term.done
	if _, err := st.Authenticate(context.Background(), "dave", "dave-password-1"); err != nil {
		t.Fatalf("dave's password: %v", err)
	}
}
