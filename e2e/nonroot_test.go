package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The unprivileged user the non-root test runs the gateway as (left in
// place afterwards; made again only when missing).
const nonRootUser = "lxcgate-e2e"

// TestNonRoot runs the gateway as the packaged unit does: an unprivileged
// user with exactly CAP_NET_ADMIN and CAP_NET_RAW as ambient capabilities
// (setpriv here, AmbientCapabilities= under systemd), LXD reached through
// its socket's group. A key login, a launch through LXD and the published
// port's DNAT (written by iptables-restore, a child that must inherit the
// ambient capabilities) all have to work.
func TestNonRoot(t *testing.T) {
	need(t, "setpriv", "useradd", "iptables")
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to an unprivileged user")
	}
	uid, gid := nonRootIDs(t)
	sock := "/var/lib/lxd/unix.socket"
	if d := os.Getenv("LXD_DIR"); d != "" {
		sock = filepath.Join(d, "unix.socket")
	}

	g, _ := portsGW(t)
	// t.TempDir's parents are closed to others: a directory of the test's
	// own that the user may enter, with the data directory theirs.
	dir, err := os.MkdirTemp("", "lxcgate-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o711)
	g.dir = dir
	alice := g.addUser("alice", "alice-password", false) // as root: the database is made here
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), data).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}

	// LXD's socket is writable by its group (root here: the lab starts LXD
	// with --group root; lxd with the Debian package): the gateway gets
	// that group as a supplementary one, and nothing else of root's.
	var st syscall.Stat_t
	if err := syscall.Stat(sock, &st); err != nil {
		t.Fatalf("LXD socket: %v", err)
	}
	// systemd's side of Type=notify and WatchdogSec=: a datagram socket the
	// gateway reports to.
	notify := listenNotify(t, filepath.Join(dir, "notify"))
	g.envVars = append(g.envVars, "NOTIFY_SOCKET="+filepath.Join(dir, "notify"), "WATCHDOG_USEC=400000")
	g.startAs(uid, gid, st.Gid)
	expectNotify(t, notify, "READY=1")
	pid := g.cmd.Process.Pid

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := procStatus(string(status))
	if u := strings.Fields(fields["Uid"]); len(u) != 4 || u[0] != strconv.Itoa(uid) || u[1] != strconv.Itoa(uid) || u[2] != strconv.Itoa(uid) {
		t.Fatalf("gateway uids %q, want all %d", fields["Uid"], uid)
	}
	const netAdminRaw = 1<<12 | 1<<13 // CAP_NET_ADMIN, CAP_NET_RAW
	for _, set := range []string{"CapEff", "CapPrm", "CapAmb"} {
		v, err := strconv.ParseUint(fields[set], 16, 64)
		if err != nil || v != netAdminRaw {
			t.Errorf("gateway %s = %s, want exactly cap_net_admin,cap_net_raw (%016x)", set, fields[set], netAdminRaw)
		}
	}

	if r := g.sshKey("alice", alice, "", "whoami"); r.code != 0 || !strings.Contains(r.out, "alice") {
		t.Fatalf("key login as alice: %+v\n%s", r, g.logs())
	}
	if r := g.sshKey("alice", alice, "", "launch", "box"); r.code != 0 {
		t.Fatalf("launch through LXD as uid %d: %+v\n%s", uid, r, g.logs())
	}
	hp := g.sshPort("alice", alice, "box")
	waitFor(t, fmt.Sprintf("DNAT for host port %d in %s-DNAT", hp, g.chains), 30*time.Second, func() bool {
		return strings.Contains(g.natRules(), fmt.Sprintf("--dport %d ", hp))
	})
	t.Logf("gateway pid %d: Uid %s, Groups %s, CapEff %s; DNAT:\n%s", pid, fields["Uid"], fields["Groups"], fields["CapEff"], g.natRules())
	if strings.Contains(g.logs(), "level=ERROR") {
		t.Errorf("the unprivileged gateway logged errors:\n%s", g.logs())
	}
	expectNotify(t, notify, "WATCHDOG=1")
	g.cmd.Process.Signal(syscall.SIGTERM)
	expectNotify(t, notify, "STOPPING=1")
	select {
	case <-g.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway did not stop on SIGTERM")
	}
}

// listenNotify stands in for systemd's notify socket; what arrives comes
// on the channel.
func listenNotify(t *testing.T, path string) chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o666) // the gateway runs as another user
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

// expectNotify waits for msg, skipping other messages (watchdog pings).
func expectNotify(t *testing.T, ch chan string, msg string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == msg {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on NOTIFY_SOCKET", msg)
		}
	}
}

// nonRootIDs returns the test user's uid and gid, making a system user when
// there is none.
func nonRootIDs(t *testing.T) (int, int) {
	t.Helper()
	u, err := user.Lookup(nonRootUser)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", nonRootUser).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v %s", nonRootUser, err, out)
		}
		if u, err = user.Lookup(nonRootUser); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 {
		t.Fatalf("%s has uid 0", nonRootUser)
	}
	return uid, gid
}

// startAs runs the gateway through setpriv as uid:gid with the extra group
// and the two ambient capabilities, and waits until it listens.
func (g *gw) startAs(uid, gid int, extraGroup uint32) {
	g.t.Helper()
	g.run(exec.Command("setpriv", append([]string{"--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(gid),
		"--groups", fmt.Sprintf("%d,%d", gid, extraGroup),
		"--inh-caps", "-all,+net_admin,+net_raw", "--ambient-caps", "+net_admin,+net_raw", "--bounding-set", "-all,+net_admin,+net_raw",
		binary}, g.serveArgs()...)...))
}

// procStatus parses /proc/PID/status into its fields.
func procStatus(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}
