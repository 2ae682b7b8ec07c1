package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Scenario (issue 19): lxcfs was installed but not running, so "free -m" in
// a 2 GiB container showed the host's 24 GiB. LXD 5.0.2 reports nothing of
// lxcfs (GET /1.0 has no such field; LXC's mount hook binds it in at each
// container start), so doctor reads the LXD host's mount table: no lxcfs at
// /var/lib/lxcfs is a warning naming the fix.
func TestCheckLXCFS(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := "proc /proc proc rw,nosuid 0 0\n/dev/vda1 / ext4 rw 0 0\n"
	for _, tc := range []struct {
		name, mounts string
		status       Status
		detail       string
	}{
		{"running", write("ok", base+"lxcfs /var/lib/lxcfs fuse.lxcfs rw,nosuid,nodev,relatime,user_id=0,group_id=0,allow_other 0 0\n"), OK, "/var/lib/lxcfs"},
		{"not running", write("none", base), Warn, "lxcfs /var/lib/lxcfs"},
		{"elsewhere", write("other", base+"lxcfs /srv/lxcfs fuse.lxcfs rw 0 0\n"), Warn, "systemctl enable --now lxcfs"},
		{"another filesystem there", write("tmpfs", base+"tmpfs /var/lib/lxcfs tmpfs rw 0 0\n"), Warn, "host's memory"},
		{"unreadable", filepath.Join(dir, "missing"), Warn, "can't read"},
	} {
		c := CheckLXCFS(tc.mounts)
		if c.Name != "lxcfs" || c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) || strings.Contains(c.Detail, "\n") {
			t.Errorf("%s: %+v, want %s with %q", tc.name, c, tc.status, tc.detail)
		}
	}
}

// Run checks lxcfs for an LXD on this host (Mounts set), right after the
// bridge, and not for a remote one.
func TestRunChecksLXCFSOfLocalLXD(t *testing.T) {
	dir := t.TempDir()
	e := Env{
		LXD: fakeLXD{host: Host{Version: "5.0.2", Pool: "default", PoolDriver: "btrfs", Network: "lxdbr0",
			NetworkConfig: map[string]string{"dns.mode": "none"}}},
		Runner:    scriptRunner{"iptables --version": "iptables v1.8.9 (nf_tables)"},
		LookPath:  func(string) (string, error) { return "", os.ErrNotExist },
		InUse:     func(int) bool { return false },
		PortFirst: 20000, PortLast: 29999, ChainPrefix: "LXCGATE-",
		DataDir: dir, DBFile: filepath.Join(dir, "lxcgate.db"), HostKey: filepath.Join(dir, "key"),
	}
	names := func(r Report) string {
		var n []string
		for _, c := range r.Checks {
			n = append(n, c.Name)
		}
		return strings.Join(n, ",")
	}
	if got := names(Run(t.Context(), e)); strings.Contains(got, "lxcfs") {
		t.Errorf("a remote LXD's lxcfs checked: %s", got)
	}
	e.Mounts = filepath.Join(dir, "mounts")
	os.WriteFile(e.Mounts, []byte("/dev/vda1 / ext4 rw 0 0\n"), 0o644)
	r := Run(t.Context(), e)
	if got := names(r); !strings.Contains(got, "bridge,lxcfs,") {
		t.Errorf("checks %s, want lxcfs after bridge", got)
	}
}
