package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// The gateway harness: TestMain builds the binary; gw is one gateway with
// its data directory, port, prefixes and log, started as 'lxcgate serve'.

// binary is the lxcgate that TestMain built for this run.
var binary string

// TestMain builds the binary (with the failpoint tag) and, after the run,
// checks that no test left chains behind.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lxcgate-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "lxcgate")
	// The failpoint tag lets crash tests kill the gateway between two steps
	// (LXCGATE_FAILPOINT); without it the variable does nothing.
	build := exec.Command("go", "build", "-tags", "failpoint", "-o", binary, "../cmd/lxcgate")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building lxcgate failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	// Each test removes its gateways' chains; what one left behind is a
	// bug: remove it, name it and fail, so the host ends as it began.
	if left := leftChains(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: the tests left these iptables chains and nftables tables (now removed): %s\n", strings.Join(left, " "))
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// Every gateway a test starts has a project prefix and a chain prefix of
// its own: with the defaults it would adopt the containers a demo gateway
// (scripts/up.sh) left in lxcgate-USER and rewrite that gateway's LXCGATE
// chains. The pid keeps two e2e runs on one host apart.
var gwSeq atomic.Int64

// gwID is a gateway's own number: this run's pid and a sequence.
func gwID() string { return fmt.Sprintf("%05d%03d", os.Getpid()%100000, gwSeq.Add(1)%1000) }

// usedChains holds the chain prefix of every gateway this run started.
var usedChains = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// flushChains removes the chains named PREFIX-* and the jumps into them.
func flushChains(prefix string) error {
	cmd := exec.Command(binary, "--data", filepath.Join(os.TempDir(), "lxcgate-e2e-flush"), "portmap", "flush")
	cmd.Env = append(os.Environ(), "LXCGATE_PORTS_CHAIN_PREFIX="+prefix)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("portmap flush %s: %v: %s", prefix, err, out)
	}
	return nil
}

// chainsOf lists the nat and filter chains named PREFIX-*, and the
// nftables table of that prefix.
func chainsOf(prefix string) []string {
	var tables []string
	if exec.Command("nft", "list", "table", "ip", strings.ToLower(prefix)).Run() == nil {
		tables = append(tables, "table ip "+strings.ToLower(prefix))
	}
	out, _ := exec.Command("iptables-save", "-t", "nat").Output()
	filter, _ := exec.Command("iptables-save", "-t", "filter").Output()
	var names []string
	for _, l := range strings.Split(string(out)+string(filter), "\n") {
		if name, ok := strings.CutPrefix(strings.Fields(l + " x")[0], ":"+prefix+"-"); ok {
			names = append(names, prefix+"-"+name)
		}
	}
	return append(names, tables...)
}

// leftChains finds (and removes) the chains of this run's gateways that
// are still there.
func leftChains() []string {
	usedChains.Lock()
	defer usedChains.Unlock()
	var left []string
	for prefix := range usedChains.m {
		if names := chainsOf(prefix); len(names) > 0 {
			left = append(left, names...)
			if err := flushChains(prefix); err != nil {
				fmt.Fprintln(os.Stderr, "e2e:", err)
			}
		}
	}
	return left
}

// need fails the test in CI, and skips it elsewhere, when a tool is missing.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing; run scripts/lab.sh up", tool)
			}
			t.Skipf("%s is missing; run scripts/lab.sh up", tool)
		}
	}
}

// gw is one running gateway.
type gw struct {
	t         *testing.T
	dir       string // data dir and client files
	port      string
	cmd       *exec.Cmd
	logMu     sync.Mutex
	log       bytes.Buffer
	logWriter logWriter
	known     string // known_hosts for the gateway's host key
	exited    chan error
	envVars   []string
	prefix    string // prefix of its LXD projects
	chains    string // prefix of its iptables chains
	cleanup   bool   // its chains and projects are removed at the end
}

// givenPorts are the ports freePort handed out in this run: the kernel may
// offer a port again once its probe closed, and a gateway's SSH and web
// listeners then collided.
var givenPorts = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// freePort is a loopback TCP port that was free a moment ago and that no
// other caller in this run was given.
func freePort(t *testing.T) string {
	t.Helper()
	givenPorts.Lock()
	defer givenPorts.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		if !givenPorts.m[port] {
			givenPorts.m[port] = true
			return port
		}
	}
}

// newGW prepares a data directory; start runs the gateway. The gateway
// gets a project prefix and a chain prefix of its own unless env names
// them (as the cluster tests do).
func newGW(t *testing.T, env ...string) *gw {
	t.Helper()
	need(t, "ssh", "ssh-keygen", "sshpass")
	id := gwID()
	g := &gw{t: t, dir: t.TempDir(), port: freePort(t), prefix: "e2e" + id + "-", chains: "E2E" + id}
	g.envVars = []string{"LXCGATE_CONTAINERS_PROJECT_PREFIX=" + g.prefix, "LXCGATE_PORTS_CHAIN_PREFIX=" + g.chains}
	for _, e := range env { // the last one wins, as in exec.Cmd's Env
		if v, ok := strings.CutPrefix(e, "LXCGATE_CONTAINERS_PROJECT_PREFIX="); ok {
			g.prefix = v
		}
		if v, ok := strings.CutPrefix(e, "LXCGATE_PORTS_CHAIN_PREFIX="); ok {
			g.chains = v
		}
	}
	g.envVars = append(g.envVars, env...)
	return g
}

// cleanUp removes, once the test ends, what a started gateway made: its
// chains (and jumps) and its LXD projects. Registered before the gateway
// is killed, it runs after.
func (g *gw) cleanUp() {
	if g.cleanup {
		return
	}
	g.cleanup = true
	usedChains.Lock()
	usedChains.m[g.chains] = true
	usedChains.Unlock()
	g.t.Cleanup(func() {
		if err := flushChains(g.chains); err != nil {
			g.t.Errorf("removing the gateway's chains: %v", err)
		}
		if _, err := exec.LookPath("lxc"); err == nil {
			removeProjects(lxcOut, g.prefix)
		}
	})
}

// lxcgate runs a host command against this gateway's data directory.
func (g *gw) lxcgate(stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(binary, append([]string{"--data", filepath.Join(g.dir, "data")}, args...)...)
	cmd.Env = append(os.Environ(), g.envVars...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errw bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errw
	err := cmd.Run()
	return out.String(), errw.String(), err
}

// mustLxcgate is lxcgate that fails the test when the command fails.
func (g *gw) mustLxcgate(stdin string, args ...string) string {
	g.t.Helper()
	out, errw, err := g.lxcgate(stdin, args...)
	if err != nil {
		g.t.Fatalf("lxcgate %s: %v\n%s", strings.Join(args, " "), err, errw)
	}
	return out
}

// addUser adds a user with a password and a fresh key; it returns the key file.
func (g *gw) addUser(name, password string, admin bool) string {
	g.t.Helper()
	args := []string{"user", "add", name, "--password-stdin"}
	if admin {
		args = append(args, "--admin")
	}
	g.mustLxcgate(password+"\n", args...)
	key := g.newKey(name)
	pub, _ := os.ReadFile(key + ".pub")
	g.mustLxcgate(string(pub), "user", "key", "add", name)
	return key
}

// newKey writes an ed25519 key pair in OpenSSH format, as ssh-keygen would.
func (g *gw) newKey(name string) string {
	g.t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := gossh.MarshalPrivateKey(priv, name)
	if err != nil {
		g.t.Fatal(err)
	}
	path := filepath.Join(g.dir, "key-"+name)
	os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
	signer, _ := gossh.NewSignerFromKey(priv)
	os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
	return path
}

// start runs the gateway with serve's extra args and waits until it listens.
func (g *gw) start(args ...string) {
	g.t.Helper()
	g.run(exec.Command(binary, g.serveArgs(args...)...))
}

// serveArgs are the gateway's arguments for this test's data and port.
func (g *gw) serveArgs(args ...string) []string {
	return append([]string{"--data", filepath.Join(g.dir, "data"), "serve", "--listen", "127.0.0.1:" + g.port}, args...)
}

// run starts cmd as the gateway, waits until it listens (failing at once
// when it exits first) and writes known_hosts from its host key.
func (g *gw) run(cmd *exec.Cmd) {
	g.t.Helper()
	g.cleanUp()
	g.cmd = cmd
	g.cmd.Env = append(os.Environ(), g.envVars...)
	g.cmd.Stdout = &g.logWriter
	g.cmd.Stderr = &g.logWriter
	g.logWriter.g = g
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	exited, waited := make(chan error, 1), make(chan struct{})
	g.exited = exited
	go func() { err := cmd.Wait(); close(waited); exited <- err }()
	g.t.Cleanup(func() {
		cmd.Process.Kill()
		<-waited
		if g.t.Failed() {
			g.t.Logf("gateway log:\n%s", g.logs())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+g.port)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err // for the test, which may wait on it too
			g.t.Fatalf("the gateway exited: %v\n%s", err, g.logs())
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway did not listen: %s", g.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// known_hosts from the host key on disk: every connection checks it.
	pub, err := exec.Command("ssh-keygen", "-y", "-f", filepath.Join(g.dir, "data", "ssh_host_ed25519_key")).Output()
	if err != nil {
		g.t.Fatalf("reading the host key: %v", err)
	}
	g.known = filepath.Join(g.dir, "known_hosts")
	os.WriteFile(g.known, []byte(fmt.Sprintf("[127.0.0.1]:%s %s", g.port, pub)), 0o644)
}

// logWriter collects the gateway's output for failure reports.
type logWriter struct{ g *gw }

// Write appends p to the gateway's log.
func (w *logWriter) Write(p []byte) (int, error) {
	w.g.logMu.Lock()
	defer w.g.logMu.Unlock()
	return w.g.log.Write(p)
}

// logs is the gateway's output so far.
func (g *gw) logs() string {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	return g.log.String()
}

// signal sends sig to the gateway.
func (g *gw) signal(sig syscall.Signal) { g.cmd.Process.Signal(sig) }

// rss reads the gateway's resident set now and its peak (VmRSS, VmHWM),
// in MiB, from /proc: what the hostile-input tests bound.
func (g *gw) rss() (now, peak float64) {
	g.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		g.t.Fatalf("reading the gateway's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb float64
		if n, _ := fmt.Sscanf(line, "VmRSS: %f kB", &kb); n == 1 {
			now = kb / 1024
		}
		if n, _ := fmt.Sscanf(line, "VmHWM: %f kB", &kb); n == 1 {
			peak = kb / 1024
		}
	}
	return now, peak
}
