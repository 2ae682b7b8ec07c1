package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/gateway/gatewaytest"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/sshtest"
	"github.com/lxcgate/lxcgate/internal/users"
)

// program is what the fake's processes do in these tests: the relay
// acknowledges and echoes, the sftp-server echoes, anything else is
// lxdtest's little shell.
func program(ctx context.Context, p lxd.Process) int {
	switch {
	case len(p.Argv) > 2 && strings.Contains(p.Argv[2], "/dev/tcp/"):
		p.Stdout.Write([]byte("+"))
		return lxdtest.Cat(ctx, p)
	case len(p.Argv) > 2 && strings.Contains(p.Argv[2], "sftp-server"):
		return lxdtest.Cat(ctx, p)
	}
	return lxdtest.Shell(ctx, p)
}

// directGW is a gateway where alice has box and bob has his own.
func directGW(t *testing.T, mod func(*config.Config)) *gatewaytest.Gateway {
	t.Helper()
	g := gatewaytest.Start(t, func(c *config.Config) {
		c.Web.Listen = ""
		if mod != nil {
			mod(c)
		}
	})
	g.Fake.SetProgram(program)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		if _, err := g.Users().Add(ctx, u, users.RoleUser, u+"-password"); err != nil {
			t.Fatal(err)
		}
	}
	for u, name := range map[string]string{"alice": "box", "bob": "bobs"} {
		if _, _, code := runSSH(t, g, u, u+"-password", "launch "+name); code != 0 {
			t.Fatalf("launch %s: %d", name, code)
		}
	}
	return g
}

func dialAs(t *testing.T, g *gatewaytest.Gateway, login, password string) *gossh.Client {
	t.Helper()
	c, err := gossh.Dial("tcp", g.Addrs().SSH.String(), &gossh.ClientConfig{
		User: login, Auth: []gossh.AuthMethod{gossh.Password(password)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", login, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A command runs in the container as the container user, through its
// shell, with its exit status and stderr apart, and only the locale's
// variables pass.
func TestDirectExec(t *testing.T) {
	g := directGW(t, nil)
	c := dialAs(t, g, "alice+box", "alice-password")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	s.Setenv("LANG", "C.UTF-8")
	if err := s.Setenv("LD_PRELOAD", "/tmp/x.so"); err == nil {
		t.Error("env LD_PRELOAD accepted")
	}
	var out, errw bytes.Buffer
	s.Stdout, s.Stderr = &out, &errw
	err = s.Run("echo hi; printenv LANG; nosuch; exit 3")
	var ee *gossh.ExitError
	if !errorsAs(err, &ee) || ee.ExitStatus() != 3 {
		t.Fatalf("exit: %v", err)
	}
	if out.String() != "hi\nC.UTF-8\n" || !strings.Contains(errw.String(), "nosuch: not found") {
		t.Fatalf("out %q err %q", out.String(), errw.String())
	}
	sp := g.Fake.Spawns[len(g.Fake.Spawns)-1].Process
	if sp.UID != 1000 || sp.Cwd != "/home/ubuntu" || sp.Argv[0] != "/bin/bash" || sp.Argv[1] != "-c" || sp.Env["USER"] != "ubuntu" {
		t.Fatalf("process %+v", sp)
	}
	if _, ok := sp.Env["LD_PRELOAD"]; ok {
		t.Fatal("LD_PRELOAD passed")
	}
	// The audit keeps the first word, not the command line.
	if log := g.Log.String(); !strings.Contains(log, `detail="box as ubuntu: exec echo;`) || strings.Contains(log, "nosuch") {
		t.Fatalf("audit:\n%s", log)
	}
	// alice+box+root runs as root.
	out2, _, code := sshtest.Run(t, dialAs(t, g, "alice+box+root", "alice-password"), "exit 0")
	if code != 0 || out2 != "" || g.Fake.Spawns[len(g.Fake.Spawns)-1].Process.UID != 0 {
		t.Fatalf("root: %d %q", code, out2)
	}
}

func errorsAs(err error, target **gossh.ExitError) bool {
	ee, ok := err.(*gossh.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

// Every name that is not one of the caller's containers gets the answer
// of a container that does not exist, and nothing runs in LXD.
func TestDirectTenancy(t *testing.T) {
	g := directGW(t, nil)
	before := g.Fake.SpawnCount()
	tricks := []struct{ login, password string }{
		{"bob+box", "bob-password"}, {"alice+bobs", "alice-password"}, {"alice+Box", "alice-password"},
		{"alice+box/..", "alice-password"}, {"alice+..", "alice-password"}, {"alice+%2fbox", "alice-password"},
		{"alice+lxcgate-bob", "alice-password"}, {"alice+bоx", "alice-password"}, // Cyrillic о
		{"alice+box+a:b", "alice-password"}, {"alice+box+../root", "alice-password"}, {"alice+", "alice-password"},
		{"alice+" + strings.Repeat("b", 10<<10), "alice-password"}, {"alice+nope", "alice-password"},
	}
	var want string
	for _, tr := range tricks {
		_, errw, code := sshtest.Run(t, dialAs(t, g, tr.login, tr.password), "echo in")
		if want == "" {
			want = errw
		}
		if code != 1 || errw != want || !strings.Contains(errw, "no container by that name") {
			t.Errorf("%.40s: %d %q, want %q", tr.login, code, errw, want)
		}
	}
	if n := g.Fake.SpawnCount(); n != before {
		t.Fatalf("%d processes ran for refused logins", n-before)
	}
	// A wrong password is a wrong password, whatever the container part.
	if _, err := gossh.Dial("tcp", g.Addrs().SSH.String(), &gossh.ClientConfig{User: "alice+box",
		Auth: []gossh.AuthMethod{gossh.Password("bob-password")}, HostKeyCallback: gossh.InsecureIgnoreHostKey()}); err == nil {
		t.Fatal("alice+box logged in with bob's password")
	}
}

// A stopped container is refused with the way to start it, or started
// where the configuration says so.
func TestDirectStopped(t *testing.T) {
	g := directGW(t, nil)
	if _, _, code := runSSH(t, g, "alice", "alice-password", "stop box"); code != 0 {
		t.Fatal("stop")
	}
	_, errw, code := sshtest.Run(t, dialAs(t, g, "alice+box", "alice-password"), "echo in")
	if code != 1 || errw != "lxcgate: box is stopped; 'ssh gw start box' first\n" {
		t.Fatalf("%d %q", code, errw)
	}
	next := g.Config
	next.Web.Listen = ""
	next.Access.StartOnLogin = true
	if err := g.Reload(next); err != nil {
		t.Fatal(err)
	}
	out, errw, code := sshtest.Run(t, dialAs(t, g, "alice+box", "alice-password"), "echo in")
	if code != 0 || out != "in\n" {
		t.Fatalf("start_on_login: %d %q %q", code, out, errw)
	}
}

// sftp is served only on a login into a container; elsewhere the
// subsystem request fails.
func TestDirectSFTPOnlyInside(t *testing.T) {
	g := directGW(t, nil)
	s, err := dialAs(t, g, "alice", "alice-password").NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestSubsystem("sftp"); err == nil {
		t.Fatal("sftp on the gateway's own shell")
	}
	s, err = dialAs(t, g, "alice+box", "alice-password").NewSession()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := s.StdinPipe()
	out, _ := s.StdoutPipe()
	if err := s.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("ping"))
	in.Close()
	got, _ := io.ReadAll(out)
	if string(got) != "ping" { // the fake's sftp-server is cat
		t.Fatalf("got %q", got)
	}
	sp := g.Fake.Spawns[len(g.Fake.Spawns)-1].Process
	if sp.Argv[0] != "/bin/sh" || !strings.Contains(sp.Argv[2], "sftp-server") || sp.UID != 1000 {
		t.Fatalf("sftp ran as %+v", sp)
	}
}

// -L reaches the container's loopback and own address only.
func TestDirectForward(t *testing.T) {
	g := directGW(t, nil)
	c := dialAs(t, g, "alice+box", "alice-password")
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		conn, err := c.Dial("tcp", net.JoinHostPort(host, "8080"))
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		conn.Write([]byte("hello"))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("%s: %q %v", host, buf, err)
		}
		conn.Close()
	}
	for _, host := range []string{"10.0.0.1", "gw.test", "169.254.169.254", "127.0.0.2"} {
		if _, err := c.Dial("tcp", net.JoinHostPort(host, "80")); err == nil || !strings.Contains(err.Error(), "reach only the container itself") {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := dialAs(t, g, "bob+box", "bob-password").Dial("tcp", "127.0.0.1:22"); err == nil || !strings.Contains(err.Error(), "no container by that name") {
		t.Errorf("bob into alice's box: %v", err)
	}
}

// A disabled user's session into a container ends within a second; one
// whose container the gateway stops gets a notice.
func TestDirectSessionsEnd(t *testing.T) {
	g := directGW(t, nil)
	ctx := context.Background()
	run := func(login, password string) (chan error, *bytes.Buffer) {
		s, err := dialAs(t, g, login, password).NewSession()
		if err != nil {
			t.Fatal(err)
		}
		errw := &bytes.Buffer{}
		s.Stderr = errw
		s.Stdin = blockingReader{}
		done := make(chan error, 1)
		go func() { done <- s.Run("cat") }()
		return done, errw
	}
	waitSpawns := func(n int) {
		for deadline := time.Now().Add(5 * time.Second); g.Fake.SpawnCount() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no process started")
			}
		}
	}
	n := g.Fake.SpawnCount()
	done, _ := run("bob+bobs", "bob-password")
	waitSpawns(n + 1)
	if err := g.Users().SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(1500 * time.Millisecond):
		t.Fatal("a disabled user's session into a container went on")
	}
	n = g.Fake.SpawnCount()
	done, errw := run("alice+box", "alice-password")
	waitSpawns(n + 1)
	if err := g.Containers().AutoStop(ctx, ref.Ref{Owner: "alice", Name: "box"}, containers.ReasonIdle); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the session went on after its container's stop")
	}
	if !strings.Contains(errw.String(), "lxcgate: box is being stopped") {
		t.Fatalf("notice: %q", errw.String())
	}
}

// blockingReader never ends, as a user at a terminal.
type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }

// The container user is read once a minute at most, and again as soon as
// the container changes through the gateway (a restart, a new launch).
func TestDirectAccountFollowsTheContainer(t *testing.T) {
	g := directGW(t, nil)
	uid := func() uint32 {
		t.Helper()
		if _, _, code := sshtest.Run(t, dialAs(t, g, "alice+box", "alice-password"), "exit 0"); code != 0 {
			t.Fatalf("exec: %d", code)
		}
		return g.Fake.Spawns[len(g.Fake.Spawns)-1].Process.UID
	}
	if u := uid(); u != 1000 {
		t.Fatalf("uid %d", u)
	}
	passwd := []byte("ubuntu:x:1500:1500::/home/ubuntu:/bin/bash\n")
	if err := g.Fake.WriteFile(context.Background(), "lxcgate-alice", "box", "/etc/passwd", passwd, 0, 0, 0o644); err != nil {
		t.Fatal(err)
	}
	if u := uid(); u != 1000 {
		t.Fatalf("uid %d: the account was read again at once", u)
	}
	if _, _, code := runSSH(t, g, "alice", "alice-password", "restart box"); code != 0 {
		t.Fatal("restart")
	}
	if u := uid(); u != 1500 {
		t.Fatalf("uid %d after a restart, want the new 1500", u)
	}
}
