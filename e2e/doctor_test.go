package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenario: the admin runs doctor on the lab while the gateway serves:
// every check names a real fact of this host; then on a host that is not
// ready (LXD's socket wrong, the data directory open to all, a port of the
// range taken), doctor fails or warns with the fix, and exits 1.
func TestDoctor(t *testing.T) {
	g, _ := portsGW(t, "LXCGATE_CONTAINERS_NAT=false")
	g.addUser("alice", "alice-password", false)
	g.start()
	// serve logs the same checks once it has settled.
	waitFor(t, "doctor lines in serve's log", 30*time.Second, func() bool {
		return strings.Contains(g.logs(), `msg=doctor check="iptables chains" status=ok`)
	})
	r, code, stderr := g.doctor()
	if code != 0 {
		t.Fatalf("doctor on the lab exited %d: %+v %s", code, r, stderr)
	}
	for name, want := range map[string]string{
		"lxd": "LXD 5.", "storage pool": "uses btrfs", "bridge": "ipv4.nat=false dns.mode=none",
		"iptables backend": "nf_tables", "iptables chains": g.chains + "-", "data permissions": "private",
		"host key": "ssh_host_ed25519_key", "host port range": "free", "lxcfs": "mounted at /var/lib/lxcfs",
		"inotify": "fs.inotify.max_user_instances", "nftables table": "table ip " + strings.ToLower(g.chains),
	} {
		if st, d := r.status(name); st != "ok" || !strings.Contains(d, want) {
			t.Errorf("%s: %s %q, want ok with %q", name, st, d, want)
		}
	}
	if st, d := r.status("gpus"); st != "warn" || !strings.Contains(d, "no GPUs") {
		t.Errorf("gpus on a GPU-less lab: %s %q", st, d)
	}

	// LXD's socket somewhere else: one failed check with its fix, exit 1,
	// and the rest still reported.
	r, code, stderr = g.doctor("LXCGATE_CONTAINERS_LXD_SOCKET=" + filepath.Join(g.dir, "no.socket"))
	if st, d := r.status("lxd"); code != 1 || st != "fail" || !strings.Contains(d, "containers.lxd_socket") {
		t.Errorf("LXD unreachable: exit %d, %s %q", code, st, d)
	}
	if len(r.Checks) != 10 || !strings.Contains(stderr, "checks failed") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("want 10 checks (the nftables table among them) and one line on stderr: %d, %q", len(r.Checks), stderr)
	}

	// The bridge configured otherwise than it is: a warning naming the
	// command, but no failure.
	r, code, _ = g.doctor("LXCGATE_CONTAINERS_NAT=true")
	if st, d := r.status("bridge"); code != 0 || st != "warn" || !strings.Contains(d, "lxc network set lxdbr0 ipv4.nat=true") {
		t.Errorf("NAT mismatch: exit %d, %s %q", code, st, d)
	}

	// A port of the range held by someone else.
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(portFirst+3))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r, _, _ = g.doctor()
	if st, d := r.status("host port range"); st != "warn" || !strings.Contains(d, strconv.Itoa(portFirst+3)) {
		t.Errorf("busy port: %s %q", st, d)
	}

	// The data directory opened to everyone behind the gateway's back.
	data := filepath.Join(g.dir, "data")
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	r, code, _ = g.doctor()
	if st, d := r.status("data permissions"); code != 1 || st != "fail" || !strings.Contains(d, "chmod 0700 "+data) {
		t.Errorf("open data directory: exit %d, %s %q", code, st, d)
	}
	os.Chmod(data, 0o700)
}
