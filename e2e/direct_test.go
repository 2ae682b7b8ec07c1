package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Logins straight into a container (alice+box@gw), with the stock OpenSSH
// tools: ssh, sftp, scp, rsync.

// direct runs ssh into user's container with key, as login (user+box).
func (g *gw) direct(login, key, stdin string, command ...string) result {
	g.t.Helper()
	return g.sshKey(login, key, stdin, command...)
}

// sshOpts are the options sftp, scp and rsync's ssh take for this gateway.
func (g *gw) sshOpts(key string) []string {
	return []string{"-F", "/dev/null", "-o", "UserKnownHostsFile=" + g.known, "-o", "StrictHostKeyChecking=yes",
		"-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-i", key}
}

// randomFile writes n random bytes to a new file of the test's.
func randomFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ (%v, %v; %d and %d bytes)", a, b, err1, err2, len(x), len(y))
	}
}

// directGW is a lab gateway where alice has the Debian container box (its
// sshd stopped: nothing here needs it) and bob a BusyBox one.
func directGW(t *testing.T, env ...string) (*gw, string, string) {
	t.Helper()
	g, _ := labGW(t, env...)
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	if r := g.sshKey("alice", alice, "", "launch", "box", "--image", "lxcgate-debian"); r.code != 0 {
		t.Fatalf("launch box: %+v", r)
	}
	if r := g.sshKey("bob", bob, "", "launch", "bbox"); r.code != 0 {
		t.Fatalf("launch bbox: %+v", r)
	}
	waitFor(t, "box's systemd to run", 60*time.Second, func() bool {
		r := g.direct("alice+box+root", alice, "", "systemctl is-system-running --wait >/dev/null 2>&1; systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl is-active ssh")
		return strings.TrimSpace(r.out) == "inactive"
	})
	return g, alice, bob
}

// The tests of logins into containers share one gateway and its two
// containers (launching a Debian container is the slow part); Refusals
// goes last, as it stops box and disables bob.
func TestDirect(t *testing.T) {
	g, alice, bob := directGW(t)
	parent := t
	for _, c := range []struct {
		name string
		run  func(*testing.T, *gw, string, string)
	}{
		{"ShellAndExec", directShellAndExec}, {"Files", directFiles}, {"Forwards", directForwards},
		{"VSCodeSequence", directVSCodeSequence}, {"SlowReader", directSlowReader}, {"Refusals", directRefusals},
	} {
		ok := t.Run(c.name, func(t *testing.T) {
			g.t = t // the gateway's helpers fail, and clean up after, this subtest
			defer func() { g.t = parent }()
			c.run(t, g, alice, bob)
		})
		if !ok {
			return
		}
	}
}

// A command runs through the container user's shell with stdout, stderr
// and the exit status apart; alice+box+root picks root; a shell with a PTY
// follows resizes and passes Ctrl-C; none of it needs the image's sshd.
func directShellAndExec(t *testing.T, g *gw, alice, bob string) {
	r := g.direct("alice+box", alice, "", "id -un; pwd; echo to-stderr >&2; exit 3")
	if r.code != 3 || r.out != "ubuntu\n/home/ubuntu\n" || r.err != "to-stderr\n" {
		t.Fatalf("exec: %+v", r)
	}
	if r := g.direct("alice+box+root", alice, "", "id -u"); r.code != 0 || r.out != "0\n" {
		t.Fatalf("alice+box+root: %+v", r)
	}
	// stdin flows, and its end is the command's end of input.
	if r := g.direct("alice+box", alice, "line one\nline two\n", "wc -l"); r.code != 0 || strings.TrimSpace(r.out) != "2" {
		t.Fatalf("stdin: %+v", r)
	}
	// BusyBox, no sshd at all: shell and exec work.
	if r := g.direct("bob+bbox", bob, "", "echo $0 $HOME; exit 5"); r.code != 5 || r.out != "/bin/sh /home/ubuntu\n" {
		t.Fatalf("busybox exec: %+v", r)
	}
	// A PTY: the terminal's size at start and after a resize, Ctrl-C, TERM
	// and the exit status, through expect on a real terminal.
	script := filepath.Join(g.dir, "pty.exp")
	os.WriteFile(script, []byte(`set timeout 20
spawn -noecho ssh {*}$argv
stty rows 30 columns 90 < $spawn_out(slave,name)
expect -re {\$ $}
send "stty size; echo TERM=\$TERM\r"
expect "30 90"
expect "TERM=xterm"
stty rows 40 columns 100 < $spawn_out(slave,name)
sleep 0.5
send "stty size\r"
expect "40 100"
send "sleep 60\r"
sleep 1
send "\003"
expect -re {\$ $}
send "echo after-interrupt\r"
expect "after-interrupt"
send "exit 7\r"
expect eof
catch wait result
exit [lindex $result 3]
`), 0o644)
	args := append([]string{script}, g.sshArgs("alice+box", "-tt", "-i", alice, "-o", "BatchMode=yes")...)
	cmd := exec.Command("expect", args...)
	cmd.Env = append(os.Environ(), "TERM=xterm", "SSH_AUTH_SOCK=")
	out, err := cmd.CombinedOutput()
	if exitCode(err) != 7 {
		t.Fatalf("pty session: %v\n%s", err, out)
	}
	// The exit status of a signal: the command ends when the client goes.
	lsleep := exec.Command("ssh", append(g.sshArgs("alice+box", "-i", alice, "-o", "BatchMode=yes"), "sleep 300")...)
	lsleep.Start()
	waitFor(t, "sleep to run in box", 10*time.Second, func() bool {
		return strings.Contains(g.direct("alice+box", alice, "", "ps -eo args").out, "sleep 300")
	})
	lsleep.Process.Kill()
	lsleep.Wait()
	waitFor(t, "sleep to end with its client", 10*time.Second, func() bool {
		return !strings.Contains(g.direct("alice+box", alice, "", "ps -eo args").out, "sleep 300")
	})
	// The audit has one row per session, with the command's first word
	// only, the container, the user inside and the exit status.
	a := sessionRows(t, g)
	if !strings.Contains(a, "exec box as ubuntu: exec id; ") || !strings.Contains(a, "exit 3") ||
		!strings.Contains(a, "shell box as ubuntu: shell; ") || strings.Contains(a, "to-stderr") {
		t.Fatalf("audit:\n%s", a)
	}
}

// sessionRows are the audit's rows of sessions into containers, and its
// refusals, a line each: method, then detail.
func sessionRows(t *testing.T, g *gw) string {
	t.Helper()
	rows, err := openDB(t, g).Query(`SELECT method, detail FROM audit WHERE kind IN ('session', 'refusal') ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var m, d string
		rows.Scan(&m, &d)
		fmt.Fprintf(&b, "%s %s\n", m, d)
	}
	return b.String()
}

// Files: sftp, scp in both modes and rsync, round trips owned by the
// container user; an image without sftp-server says so in one line.
func directFiles(t *testing.T, g *gw, alice, bob string) {
	src := randomFile(t, g.dir, "payload", 3<<20)
	back := filepath.Join(g.dir, "back")
	port := []string{"-P", g.port}
	sftp := append(append([]string{"-q"}, port...), g.sshOpts(alice)...)
	batch := fmt.Sprintf("put %s up.bin\nget up.bin %s\n", src, back)
	if r := runCmd(t, batch, "sftp", append(sftp, "-b", "-", "alice+box@127.0.0.1")...); r.code != 0 {
		t.Fatalf("sftp: %+v", r)
	}
	sameFile(t, src, back)
	scp := append(append([]string{"-q"}, port...), g.sshOpts(alice)...)
	for _, mode := range [][]string{{}, {"-O"}} {
		os.Remove(back)
		name := "scp" + strings.Join(mode, "") + ".bin"
		if r := runCmd(t, "", "scp", append(append(append([]string{}, scp...), mode...), src, "alice+box@127.0.0.1:"+name)...); r.code != 0 {
			t.Fatalf("scp %v up: %+v", mode, r)
		}
		if r := runCmd(t, "", "scp", append(append(append([]string{}, scp...), mode...), "alice+box@127.0.0.1:"+name, back)...); r.code != 0 {
			t.Fatalf("scp %v down: %+v", mode, r)
		}
		sameFile(t, src, back)
	}
	rsh := "ssh -p " + g.port + " " + strings.Join(g.sshOpts(alice), " ")
	os.Remove(back)
	if r := runCmd(t, "", "rsync", "-a", "-e", rsh, src, "alice+box@127.0.0.1:rsync.bin"); r.code != 0 {
		t.Fatalf("rsync up: %+v", r)
	}
	if r := runCmd(t, "", "rsync", "-a", "-e", rsh, "alice+box@127.0.0.1:rsync.bin", back); r.code != 0 {
		t.Fatalf("rsync down: %+v", r)
	}
	sameFile(t, src, back)
	r := g.direct("alice+box", alice, "", "stat -c '%U %G %n' up.bin scp.bin scp-O.bin rsync.bin")
	if r.code != 0 || strings.Count(r.out, "ubuntu ubuntu ") != 4 {
		t.Fatalf("owners: %+v", r)
	}
	// BusyBox has no sftp-server: one line says what is missing.
	bsftp := append(append([]string{"-q"}, port...), g.sshOpts(bob)...)
	r = runCmd(t, "ls\n", "sftp", append(bsftp, "-b", "-", "bob+bbox@127.0.0.1")...)
	if r.code == 0 || !strings.Contains(r.err, "bbox has no sftp-server; install it in the container") {
		t.Fatalf("sftp into busybox: %+v", r)
	}
	// On the gateway's own login, sftp is refused.
	if r := runCmd(t, "ls\n", "sftp", append(sftp, "-b", "-", "alice@127.0.0.1")...); r.code == 0 {
		t.Fatalf("sftp on the gateway itself: %+v", r)
	}
}

// getLocal GETs / from a local port (an ssh -L) once it answers, and
// returns the body.
func getLocal(t *testing.T, what, port string) string {
	t.Helper()
	var body string
	waitFor(t, what, 15*time.Second, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return true
	})
	return body
}

// socks5 connects through a SOCKS5 proxy (ssh -D) to host:port.
func socks5(proxy, host string, port int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := []byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}
	req = append(append(req, host...), byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	resp := make([]byte, 2+10) // method choice, then a reply with an IPv4 address
	if _, err := io.ReadFull(c, resp); err != nil || resp[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("socks5 to %s:%d refused (%v, %v)", host, port, resp, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// getVia does a GET over conn and returns the body.
func getVia(conn net.Conn, host string) (string, error) {
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// startForward runs ssh -N with forwarding options until the test ends.
func (g *gw) startForward(login, key string, opts ...string) {
	g.t.Helper()
	args := g.sshArgs(login, append([]string{"-N", "-i", key, "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes"}, opts...)...)
	cmd := exec.Command("ssh", args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// -L and -D reach a service bound to the container's loopback only; other
// destinations, -R and agent forwarding are refused.
func directForwards(t *testing.T, g *gw, alice, bob string) {
	if r := g.direct("alice+box", alice, "", "mkdir -p www && echo hello-from-box > www/index.html && setsid busybox httpd -p 127.0.0.1:8080 -h www"); r.code != 0 {
		t.Fatalf("httpd: %+v", r)
	}
	lport, dport := freePort(t), freePort(t)
	g.startForward("alice+box", alice, "-L", "127.0.0.1:"+lport+":localhost:8080", "-D", "127.0.0.1:"+dport)
	if body := getLocal(t, "-L to the container's loopback", lport); body != "hello-from-box\n" {
		t.Fatalf("-L: %q", body)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		c, err := socks5("127.0.0.1:"+dport, host, 8080)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := getVia(c, host); err != nil || b != "hello-from-box\n" {
			t.Fatalf("-D %s: %q %v", host, b, err)
		}
	}
	// Anything but the container itself is refused, and audited.
	for _, host := range []string{"10.166.0.1", "10.177.0.1", "127.0.0.2"} {
		if c, err := socks5("127.0.0.1:"+dport, host, 22); err == nil {
			c.Close()
			t.Errorf("-D to %s went through", host)
		}
	}
	// A closed port inside is a refused forward.
	if c, err := socks5("127.0.0.1:"+dport, "127.0.0.1", 9); err == nil {
		c.Close()
		t.Error("-D to a closed port went through")
	}
	// bob cannot forward into alice's box.
	if c, err := socks5Through(t, g, "bob+box", bob, "127.0.0.1", 8080); err == nil {
		c.Close()
		t.Error("bob reached alice's box")
	}
	// -R and agent forwarding: refused, with a message.
	r := runCmd(t, "", "ssh", append(g.sshArgs("alice+box", "-i", alice, "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
		"-R", "127.0.0.1:0:127.0.0.1:22"), "echo", "in")...)
	if r.code == 0 || !strings.Contains(r.err, "remote port forwarding failed") {
		t.Fatalf("-R: %+v", r)
	}
	agent := filepath.Join(g.dir, "agent.sock")
	ag := exec.Command("ssh-agent", "-D", "-a", agent)
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ag.Process.Kill(); ag.Wait() }()
	waitFor(t, "ssh-agent", 5*time.Second, func() bool { _, err := os.Stat(agent); return err == nil })
	args := g.sshArgs("alice+box", "-i", alice, "-o", "BatchMode=yes", "-o", "ForwardAgent=yes")
	for i, a := range args {
		if a == "IdentityAgent=none" {
			args[i] = "IdentityAgent=" + agent
		}
	}
	r = runCmd(t, "", "ssh", append(args, "echo", "in")...)
	if r.code != 0 || r.out != "in\n" || !strings.Contains(r.err, "agent forwarding is not available") {
		t.Fatalf("-A: %+v", r)
	}
	if a := sessionRows(t, g); !strings.Contains(a, "forward box as ubuntu: forward localhost:8080; ") ||
		!strings.Contains(a, "forwards reach only the container itself") {
		t.Fatalf("audit:\n%s", a)
	}
}

// socks5Through starts its own ssh -D as login and connects through it.
func socks5Through(t *testing.T, g *gw, login, key, host string, port int) (net.Conn, error) {
	t.Helper()
	p := freePort(t)
	g.startForward(login, key, "-D", "127.0.0.1:"+p)
	var c net.Conn
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err = socks5("127.0.0.1:"+p, host, port); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// VS Code Remote-SSH's sequence: ssh -T -D PORT host bash, a script on
// stdin that starts a server on the container's 127.0.0.1 and prints its
// port, then connections through the SOCKS proxy while the session stays
// open; closing stdin ends it with status 0.
func directVSCodeSequence(t *testing.T, g *gw, alice, bob string) {
	dport := freePort(t)
	args := append(g.sshArgs("alice+box", "-T", "-D", "127.0.0.1:"+dport, "-i", alice, "-o", "BatchMode=yes"), "bash")
	cmd := exec.Command("ssh", args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var errw bytes.Buffer
	cmd.Stderr = &errw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	io.WriteString(stdin, `set -e
dir=$HOME/.vscode-server-lxcgate
mkdir -p "$dir" && echo vscode-server-up > "$dir/index.html"
port=$((30000 + RANDOM % 20000))
setsid busybox httpd -p 127.0.0.1:$port -h "$dir"
echo "listeningOn==$port=="
echo "exitCode==0=="
`)
	sc := bufio.NewScanner(stdout)
	port := 0
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "listeningOn==%d==", &port); err == nil {
			break
		}
	}
	if port == 0 {
		t.Fatalf("no listeningOn line; stderr: %s", errw.String())
	}
	for i := 0; i < 3; i++ { // VS Code opens several connections
		c, err := socks5("127.0.0.1:"+dport, "127.0.0.1", port)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := getVia(c, "127.0.0.1"); err != nil || b != "vscode-server-up\n" {
			t.Fatalf("through -D: %q %v", b, err)
		}
	}
	stdin.Close()
	go io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the session ended with %v; stderr: %s", err, errw.String())
	}
}

// Stopped containers are refused with the way out; every name trick gets
// the one answer of a container that does not exist; a disabled user's
// session ends within a second.
func directRefusals(t *testing.T, g *gw, alice, bob string) {
	none := g.direct("alice+nosuch", alice, "", "true")
	if none.code == 0 || none.err != "lxcgate: you have no container by that name; 'list' shows yours\n" {
		t.Fatalf("no such container: %+v", none)
	}
	for _, login := range []string{"bob+box", "alice+bbox", "alice+BOX", "alice+box/..", "alice+..", "alice+%2fbox",
		"alice+" + g.prefix + "alice", "alice+bоx", "alice+box+a:b", "alice+box+../../root", "alice+box+"} {
		key := alice
		if strings.HasPrefix(login, "bob") {
			key = bob
		}
		r := runCmd(t, "", "ssh", append(g.sshArgs("x", "-i", key, "-o", "BatchMode=yes", "-l", login), "true")...)
		if r.code == 0 || r.err != none.err {
			t.Errorf("%s: %+v", login, r)
		}
	}
	// The user inside must exist.
	if r := g.direct("alice+box+nobody2", alice, "", "true"); r.code == 0 || !strings.Contains(r.err, `box has no user "nobody2"`) {
		t.Errorf("a missing container user: %+v", r)
	}
	// A disabled user's session ends within a second.
	long := exec.Command("ssh", append(g.sshArgs("bob+bbox", "-i", bob, "-o", "BatchMode=yes"), "sleep 120")...)
	long.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	long.Start()
	done := make(chan error, 1)
	go func() { done <- long.Wait() }()
	waitFor(t, "bob's session", 10*time.Second, func() bool {
		return strings.Contains(lxcExecOut(g.prefix+"bob", "bbox", "ps"), "sleep 120")
	})
	g.mustLxcgate("", "user", "disable", "bob")
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		long.Process.Kill()
		t.Fatal("a disabled user's session into a container went on")
	}
	// Stopped: refused with the way to start it.
	if r := g.sshKey("alice", alice, "", "stop", "box"); r.code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	if r := g.direct("alice+box", alice, "", "true"); r.code == 0 || r.err != "lxcgate: box is stopped; 'ssh gw start box' first\n" {
		t.Fatalf("stopped: %+v", r)
	}
}

func lxcExecOut(project, name, script string) string {
	out, _ := lxcExec(project, name, script)
	return out
}

// start_on_login starts a stopped container, within its lease; an open
// session counts as use for the idle stop, and a lease that runs out ends
// the session with a notice.
func TestDirectStartIdleAndLease(t *testing.T) {
	g, _ := labGW(t, "LXCGATE_ACCESS_START_ON_LOGIN=true", "LXCGATE_IDLE_STOP_AFTER=6s", "LXCGATE_PORTS_RECONCILE_INTERVAL=1s")
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	if r := g.sshKey("alice", alice, "", "launch", "short", "--lease", "20s"); r.code != 0 {
		t.Fatalf("launch short: %+v", r)
	}
	// A session into short outlives its lease, which ends it.
	leased := make(chan result, 1)
	go func() { leased <- g.direct("alice+short", alice, "", "sleep 120") }()
	if r := g.sshKey("alice", alice, "", "launch", "idle"); r.code != 0 {
		t.Fatalf("launch idle: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "stop", "idle"); r.code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	if r := g.direct("alice+idle", alice, "", "echo started"); r.code != 0 || r.out != "started\n" {
		t.Fatalf("start_on_login: %+v", r)
	}
	// A session open for longer than the idle time keeps it running.
	hold := exec.Command("ssh", append(g.sshArgs("alice+idle", "-i", alice, "-o", "BatchMode=yes"), "sleep 14")...)
	hold.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	if err := hold.Run(); err != nil {
		t.Fatalf("the session into idle ended early: %v", err)
	}
	if d := g.details("alice", alice, "idle"); d.State != "running" {
		t.Fatalf("idle was stopped under an open session: %+v", d)
	}
	waitFor(t, "the idle stop after the session", 30*time.Second, func() bool {
		return g.details("alice", alice, "idle").State == "stopped"
	})
	// The lease runs out under an open session: it ends, with a notice.
	var r result
	select {
	case r = <-leased:
	case <-time.After(60 * time.Second):
		t.Fatal("the session into short outlived its lease by a minute")
	}
	if r.code == 0 || !strings.Contains(r.err, "lxcgate: short is being stopped: its lease ran out") {
		t.Fatalf("lease under a session: %+v", r)
	}
	// An expired container is not started by a login.
	if r := g.direct("alice+short", alice, "", "true"); r.code == 0 || !strings.Contains(r.err, "renew short") {
		t.Fatalf("login into an expired container: %+v", r)
	}
}

// A client that stops reading does not grow the gateway, whether the
// container floods stdout or stderr.
func directSlowReader(t *testing.T, g *gw, alice, bob string) {
	for _, cmdline := range []string{"cat /dev/zero", "cat /dev/zero >&2"} {
		before, _ := g.rss()
		cmd := exec.Command("ssh", append(g.sshArgs("alice+box", "-i", alice, "-o", "BatchMode=yes"), cmdline)...)
		cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
		pr, pw := io.Pipe() // never read: the client's buffers fill, then the window
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second)
		now, _ := g.rss()
		cmd.Process.Kill()
		pr.Close()
		cmd.Wait()
		if now-before > 24 {
			t.Fatalf("%s: the gateway grew by %.1f MiB under a client that does not read", cmdline, now-before)
		}
	}
	waitFor(t, "the floods to end with their clients", 15*time.Second, func() bool {
		return !strings.Contains(g.direct("alice+box", alice, "", "ps -eo args").out, "cat /dev/zero")
	})
}
