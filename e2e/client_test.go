package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Clients of a running gateway's SSH side: OpenSSH with a key or a password,
// an interactive session on a PTY, raw TCP and the Go SSH client.

// sshArgs are the OpenSSH options every test uses: no user config, no agent,
// strict host key checking against the gateway's own key.
func (g *gw) sshArgs(user string, opts ...string) []string {
	base := []string{"-F", "/dev/null", "-p", g.port,
		"-o", "UserKnownHostsFile=" + g.known, "-o", "StrictHostKeyChecking=yes",
		"-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=10"}
	base = append(base, opts...)
	return append(base, user+"@127.0.0.1")
}

// result is what a client command printed and its exit status.
type result struct {
	out, err string
	code     int
}

// runCmd runs a client command with no ssh agent and a 60 s limit (a
// loaded CI machine's LXD has taken 30 s for one storage call).
func runCmd(t *testing.T, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if ctx.Err() != nil {
		errw.WriteString("[test: killed after 60 s]")
	}
	return result{out.String(), errw.String(), code}
}

// sshKey runs a command with key authentication.
func (g *gw) sshKey(user, key, stdin string, command ...string) result {
	g.t.Helper()
	args := g.sshArgs(user, "-i", key, "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey")
	return runCmd(g.t, stdin, "ssh", append(args, command...)...)
}

// sshPassword runs a command with password authentication through sshpass.
func (g *gw) sshPassword(user, password, method string, command ...string) result {
	g.t.Helper()
	args := append([]string{"-p", password, "ssh"}, g.sshArgs(user, "-o", "PreferredAuthentications="+method,
		"-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1")...)
	return runCmd(g.t, "", "sshpass", append(args, command...)...)
}

// tty is an interactive session: ssh -tt gives the gateway a PTY while the
// test writes keystrokes and reads the screen through pipes.
type tty struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	done  chan error
	start time.Time
}

// tty starts ssh -tt as user with the extra auth options.
func (g *gw) tty(user string, auth ...string) *tty {
	g.t.Helper()
	args := g.sshArgs(user, append([]string{"-tt"}, auth...)...)
	cmd := exec.Command("ssh", args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=", "TERM=xterm")
	in, _ := cmd.StdinPipe()
	t := &tty{t: g.t, cmd: cmd, in: in, done: make(chan error, 1), start: time.Now()}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		r := bufio.NewReader(pr)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			t.mu.Lock()
			t.out.Write(buf[:n])
			t.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	go func() { err := cmd.Wait(); pw.Close(); t.done <- err }()
	g.t.Cleanup(func() { cmd.Process.Kill() })
	return t
}

// screen is everything the session printed so far.
func (t *tty) screen() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.String()
}

// send types s.
func (t *tty) send(s string) { io.WriteString(t.in, s) }

// expect waits up to 10 s for s on the screen.
func (t *tty) expect(s string) {
	t.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(t.screen(), s) {
		if time.Now().After(deadline) {
			t.t.Fatalf("waiting for %q on the terminal; screen:\n%s", s, t.screen())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits up to 10 s for ssh to end and returns its exit status.
func (t *tty) wait() int {
	t.t.Helper()
	select {
	case err := <-t.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(10 * time.Second):
		t.t.Fatalf("ssh did not end; screen:\n%s", t.screen())
		return -1
	}
}

// exitCode is a host command's exit status (0 when err is nil).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// dialIdle opens n TCP connections from local to the gateway and sends
// nothing; it returns them, and how many the gateway closed at once.
func dialIdle(t *testing.T, g *gw, local string, n int) ([]net.Conn, int) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp", "127.0.0.1:"+g.port)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// A kept connection hears the server's version line; a refused one
	// reads end-of-file.
	refused := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := c.Read(make([]byte, 64)); n == 0 && errors.Is(err, io.EOF) {
			refused++
		}
	}
	return conns, refused
}

// loadSigner reads a private key file for the Go SSH client.
func loadSigner(t *testing.T, path string) gossh.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
