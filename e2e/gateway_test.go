package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

func TestKeyAndPasswordLogin(t *testing.T) {
	g := newGW(t)
	aliceKey := g.addUser("alice", "alice-password", false)
	g.start()

	r := g.sshKey("alice", aliceKey, "", "whoami")
	if r.code != 0 || !strings.Contains(r.out, "alice (user), from 127.0.0.1 by publickey") {
		t.Fatalf("key whoami: %+v", r)
	}
	r = g.sshPassword("alice", "alice-password", "password", "whoami", "--json")
	if r.code != 0 || !strings.Contains(r.out, `"method": "password"`) {
		t.Fatalf("password whoami: %+v", r)
	}
	r = g.sshPassword("alice", "alice-password", "keyboard-interactive", "whoami")
	if r.code != 0 || !strings.Contains(r.out, "by keyboard-interactive") {
		t.Fatalf("keyboard-interactive whoami: %+v", r)
	}
	for _, bad := range []struct{ user, pw string }{{"alice", "wrong-password"}, {"nobody", "alice-password"}} {
		r = g.sshPassword(bad.user, bad.pw, "password", "whoami")
		if r.code != 255 || strings.Contains(r.out, "alice") {
			t.Fatalf("%s/%s logged in: %+v", bad.user, bad.pw, r)
		}
	}
	// Exec mode: proper exit statuses, one-line errors, quoting refused whole.
	r = g.sshKey("alice", aliceKey, "", "lsit")
	if r.code != 127 || !strings.Contains(r.err, `unknown command "lsit"`) || strings.Count(r.err, "\n") != 1 {
		t.Fatalf("unknown command: %+v", r)
	}
	r = g.sshKey("alice", aliceKey, "", `whoami "`)
	if r.code != 2 || !strings.Contains(r.err, "nothing was run") || r.out != "" {
		t.Fatalf("quoting error: %+v", r)
	}
}

// Regression (CVE-2024-45337 family): OpenSSH offers a key whose private half
// it does not have (only KEY.pub exists), the server accepts the offer, and
// the client goes on to log in with a password. The session belongs to the
// password's user, by password.
func TestOfferedKeyThenPassword(t *testing.T) {
	g := newGW(t)
	aliceKey := g.addUser("alice", "alice-password", false)
	bobKey := g.addUser("bob", "bob-password", false)
	g.start()
	for _, offered := range []string{aliceKey, bobKey} {
		pubOnly := filepath.Join(g.dir, filepath.Base(offered)+"-pubonly")
		pub, _ := os.ReadFile(offered + ".pub")
		os.WriteFile(pubOnly+".pub", pub, 0o644)
		args := append([]string{"-p", "alice-password", "ssh"}, g.sshArgs("alice", "-i", pubOnly,
			"-o", "PreferredAuthentications=publickey,password", "-o", "NumberOfPasswordPrompts=1")...)
		r := runCmd(t, "", "sshpass", append(args, "whoami", "--json")...)
		if r.code != 0 || !strings.Contains(r.out, `"name": "alice"`) || !strings.Contains(r.out, `"method": "password"`) {
			t.Fatalf("offered %s then password: %+v", filepath.Base(offered), r)
		}
	}
}

func TestInteractiveShell(t *testing.T) {
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	g.start()
	tt := g.tty("alice", "-i", key, "-o", "BatchMode=yes")
	tt.expect("alice@")
	tt.expect("> ")
	tt.send("who\t")
	tt.expect("whoami ")
	tt.send("\r")
	tt.expect("alice (user)")
	// Ctrl-C drops the line and keeps the shell.
	tt.send("help\x03")
	tt.expect("^C")
	tt.send("passwd\r")
	tt.expect("Current password: ")
	tt.send("alice-password\r")
	tt.expect("New password: ")
	tt.send("another-password\r")
	tt.expect("Repeat new password: ")
	tt.send("another-password\r")
	tt.expect("Password changed.")
	if strings.Contains(tt.screen(), "another-password") || strings.Contains(tt.screen(), "alice-password") {
		t.Fatalf("a password was echoed:\n%s", tt.screen())
	}
	tt.send("exit\r")
	if code := tt.wait(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if r := g.sshPassword("alice", "another-password", "password", "whoami"); r.code != 0 {
		t.Fatalf("new password: %+v", r)
	}
}

func TestPipedScript(t *testing.T) {
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	g.start()
	args := g.sshArgs("alice", "-T", "-i", key, "-o", "BatchMode=yes")
	r := runCmd(t, "whoami\n\nhelp whoami\nexit\nwhoami\n", "ssh", args...)
	if r.code != 0 || strings.Count(r.out, "alice (user)") != 1 || !strings.Contains(r.out, "usage: whoami") {
		t.Fatalf("script: %+v", r)
	}
}

func TestRefusedForwardingAndSubsystems(t *testing.T) {
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	g.start()
	auth := []string{"-i", key, "-o", "BatchMode=yes"}
	// ssh -W opens a direct-tcpip channel, as ssh -L and -J do.
	r := runCmd(t, "", "ssh", g.sshArgs("alice", append(auth, "-W", "127.0.0.1:"+g.port)...)...)
	if r.code == 0 {
		t.Fatalf("stdio forwarding allowed: %+v", r)
	}
	r = runCmd(t, "", "ssh", append(g.sshArgs("alice", append(auth, "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:1")...), "whoami")...)
	if r.code == 0 {
		t.Fatalf("remote forwarding allowed: %+v", r)
	}
	r = runCmd(t, "", "ssh", append(g.sshArgs("alice", append(auth, "-s")...), "sftp")...)
	if r.code == 0 {
		t.Fatalf("sftp subsystem allowed: %+v", r)
	}
	// Environment requests are refused without failing the command.
	r = runCmd(t, "", "ssh", append(g.sshArgs("alice", append(auth, "-o", "SetEnv=LD_PRELOAD=/tmp/x.so")...), "whoami")...)
	if r.code != 0 || !strings.Contains(r.out, "alice") {
		t.Fatalf("whoami with SetEnv: %+v", r)
	}
	time.Sleep(200 * time.Millisecond)
	db := openDB(t, g)
	var n int
	db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'refusal'`).Scan(&n)
	if n < 3 {
		t.Fatalf("%d refusals in the audit table, want at least 3", n)
	}
	if !strings.Contains(g.logs(), "refused session request") || !strings.Contains(g.logs(), "type=env") {
		t.Fatalf("env refusal not logged:\n%s", g.logs())
	}
}

func TestAuditHoldsNoSecrets(t *testing.T) {
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	g.start()
	g.sshPassword("alice", "wrong-secret-1", "password", "whoami")
	g.sshPassword("alice", "alice-password", "password", "whoami")
	g.sshKey("alice", key, "alice-password\nnew-secret-22\nnew-secret-22\n", "passwd", "--stdin")
	db := openDB(t, g)
	rows, err := db.Query(`SELECT kind, user, method, detail, ok FROM audit ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var all strings.Builder
	for rows.Next() {
		var kind, user, method, detail string
		var ok bool
		rows.Scan(&kind, &user, &method, &detail, &ok)
		all.WriteString(strings.Join([]string{kind, user, method, detail}, " | ") + "\n")
	}
	a := all.String()
	for _, want := range []string{"login | alice | password | ok", "login | alice | password | authentication failed", "command | alice | publickey | passwd --stdin => ok"} {
		if !strings.Contains(a, want) {
			t.Errorf("audit lacks %q:\n%s", want, a)
		}
	}
	for _, secret := range []string{"alice-password", "wrong-secret", "new-secret"} {
		if strings.Contains(a, secret) || strings.Contains(g.logs(), secret) {
			t.Fatalf("a password reached the audit trail or the log")
		}
	}
}

// The first admin's password goes to an owner-only file, never to the log
// (stderr is no terminal here); a loose data directory is tightened.
func TestFirstAdminPasswordFileAndHostKey(t *testing.T) {
	g := newGW(t)
	data := filepath.Join(g.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	g.start()
	pwFile := filepath.Join(data, "initial-admin-password")
	b, err := os.ReadFile(pwFile)
	if err != nil || !strings.Contains(g.logs(), pwFile) {
		t.Fatalf("no password file named: %v\n%s", err, g.logs())
	}
	m := []string{"", strings.TrimSpace(string(b))}
	if st, err := os.Stat(pwFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode: %v %v", st.Mode(), err)
	}
	if strings.Contains(g.logs(), m[1]) {
		t.Fatalf("the first admin's password reached the log")
	}
	if st, err := os.Stat(data); err != nil || st.Mode().Perm() != 0o700 || !strings.Contains(g.logs(), "tightened permissions") {
		t.Fatalf("data directory not tightened: %v %v\n%s", st.Mode(), err, g.logs())
	}
	if r := g.sshPassword("admin", m[1], "password", "whoami"); r.code != 0 || !strings.Contains(r.out, "admin (admin)") {
		t.Fatalf("admin login: %+v", r)
	}
	st, err := os.Stat(filepath.Join(g.dir, "data", "ssh_host_ed25519_key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("host key: %v %v", st.Mode(), err)
	}
	// A restart keeps the host key (the known_hosts check is strict) and
	// creates no second admin.
	g.signal(syscall.SIGTERM)
	if err := <-g.exited; err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
	known := g.known
	g.start()
	g.known = known
	if r := g.sshPassword("admin", m[1], "password", "whoami"); r.code != 0 {
		t.Fatalf("after restart: %+v", r)
	}
	if strings.Count(g.logs(), "created admin account") != 1 {
		t.Fatalf("admin created twice:\n%s", g.logs())
	}
}

func TestLobbyLogin(t *testing.T) {
	g := newGW(t, "LXCGATE_LOBBY_ENABLED=true")
	g.addUser("alice", "alice-password", false)
	g.start()
	// The lobby needs no credentials and offers only login, help and exit.
	r := runCmd(t, "", "ssh", append(g.sshArgs("lab", "-o", "BatchMode=yes"), "help")...)
	if r.code != 0 || !strings.Contains(r.out, "login") || strings.Contains(r.out, "whoami") {
		t.Fatalf("lobby help: %+v", r)
	}
	r = runCmd(t, "", "ssh", append(g.sshArgs("lab", "-o", "BatchMode=yes"), "whoami")...)
	if r.code == 0 {
		t.Fatalf("lobby ran whoami: %+v", r)
	}
	tt := g.tty("lab", "-o", "BatchMode=yes")
	tt.expect("lab@")
	tt.send("login\r")
	tt.expect("User: ")
	tt.send("alice\r")
	tt.expect("Password: ")
	tt.send("alice-password\r")
	tt.expect("Logged in as alice.")
	tt.send("whoami\r")
	tt.expect("alice (user)")
	tt.send("\x04")
	tt.wait()
}

func TestSIGTERMDrains(t *testing.T) {
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	g.start()
	tt := g.tty("alice", "-i", key, "-o", "BatchMode=yes")
	tt.expect("> ")
	g.signal(syscall.SIGTERM)
	tt.expect("restarting")
	tt.wait()
	select {
	case err := <-g.exited:
		if err != nil {
			t.Fatalf("gateway exit: %v\n%s", err, g.logs())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not exit after SIGTERM")
	}
}

func TestHostCommands(t *testing.T) {
	g := newGW(t)
	g.addUser("alice", "alice-password", false)
	if out := g.mustLxcgate("", "user", "list", "--json"); !strings.Contains(out, `"name": "alice"`) {
		t.Fatalf("user list: %s", out)
	}
	_, errw, err := g.lxcgate("short\n", "user", "add", "bob", "--password-stdin")
	if err == nil || !strings.Contains(errw, "password must be") {
		t.Fatalf("weak password: %v %s", err, errw)
	}
	_, errw, err = g.lxcgate("x\n", "user", "add", "Bob_Smith", "--password-stdin")
	if err == nil || !strings.Contains(errw, "invalid user name") {
		t.Fatalf("bad name: %v %s", err, errw)
	}
	_, errw, err = g.lxcgate("not a key\n", "user", "key", "add", "alice")
	if err == nil || !strings.Contains(errw, "invalid public key on line 1") {
		t.Fatalf("bad key: %v %s", err, errw)
	}
	out := g.mustLxcgate("", "user", "key", "list", "alice")
	fp := regexp.MustCompile(`SHA256:\S+`).FindString(out)
	g.mustLxcgate("", "user", "key", "del", "alice", fp)
	g.mustLxcgate("", "user", "disable", "alice")
	if out := g.mustLxcgate("", "user", "list"); !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %s", out)
	}
	if out := g.mustLxcgate("", "migrate"); !regexp.MustCompile(`^schema version [1-9][0-9]*\n$`).MatchString(out) {
		t.Fatalf("migrate: %s", out)
	}
	if out := g.mustLxcgate("", "config", "--default"); !strings.Contains(out, `listen = ":2222"`) {
		t.Fatalf("config --default: %s", out)
	}
	_, errw, err = g.lxcgate("", "frobnicate")
	if err == nil || !strings.Contains(errw, `unknown command "frobnicate"`) {
		t.Fatalf("unknown: %v %s", err, errw)
	}
	// A flag another command has is bad usage here (exit 2); -h is help (exit 0).
	_, errw, err = g.lxcgate("", "user", "list", "--admin", "--containers", "3")
	if code := exitCode(err); code != 2 || !strings.Contains(errw, "unknown flag --admin") {
		t.Fatalf("user list --admin: %d %s", code, errw)
	}
	if out, errw, err := g.lxcgate("", "user", "list", "--help"); err != nil || !strings.Contains(out, "usage: lxcgate user list") {
		t.Fatalf("user list --help: %v %s %s", err, out, errw)
	}
	if out := g.mustLxcgate("", "user", "list", "--format", "csv"); !strings.HasPrefix(out, "name,role,disabled,has_password,keys,created\nalice,") {
		t.Fatalf("user list --format csv: %s", out)
	}
}

// user add without --password-stdin asks twice on a terminal, without echo.
func TestUserAddPromptsOnATerminal(t *testing.T) {
	g := newGW(t)
	need(t, "expect")
	script := fmt.Sprintf(`set timeout 20
spawn %s --data %s user add carol
expect "Password: "
send "carol-password\r"
expect "Repeat password: "
send "carol-password\r"
expect eof
`, binary, filepath.Join(g.dir, "data"))
	r := runCmd(t, script, "expect", "-")
	if r.code != 0 || !strings.Contains(r.out, "added carol (user)") || strings.Contains(r.out, "carol-password") {
		t.Fatalf("user add on a terminal: %+v", r)
	}
	g.start()
	if r := g.sshPassword("carol", "carol-password", "password", "whoami"); r.code != 0 {
		t.Fatalf("carol's login: %+v", r)
	}
	// Without a terminal and without --password-stdin: a clear refusal.
	if _, errw, err := g.lxcgate("", "user", "add", "dave"); err == nil || !strings.Contains(errw, "--password-stdin") {
		t.Fatalf("user add without a terminal: %v %s", err, errw)
	}
}
