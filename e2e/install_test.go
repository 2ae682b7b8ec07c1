package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPackageInstalled installs the Debian package for real: in a Debian 12
// system container with systemd as PID 1 and LXD inside (the lab cluster's
// member image), dpkg -i of the package mkdeb builds, then systemctl. The
// unit runs as lxcgate with only its two capabilities, reaches LXD through
// its socket, keeps its nftables table, and a member outside logs in over
// SSH; reload applies a changed limit; a SIGKILL is followed by systemd's
// restart; an upgrade keeps the database, host key and configuration;
// remove keeps the data and takes the rules away; purge removes what the
// package made. The journal shows the structured logs and no secret.
func TestPackageInstalled(t *testing.T) {
	needLab(t)
	need(t, "dpkg-deb")
	needCluster(t) // its member image is the system container
	out := t.TempDir()
	build := func(version string, tags ...string) string {
		t.Helper()
		mk := exec.Command("go", append([]string{"run", "./tools/mkdeb", "-out", out, "-version", version}, tags...)...)
		mk.Dir = ".."
		b, err := mk.CombinedOutput()
		if err != nil {
			t.Fatalf("mkdeb %s: %v\n%s", version, err, b)
		}
		return strings.TrimSpace(string(b))
	}
	older, newer := build("1.0.0-e2e"), build("1.0.1-e2e")
	hangs := build("1.0.2-e2e", "-tags", "failpoint") // a reload can hang its main loop

	project := "e2e" + gwID() + "-install"
	lxc(t, "project", "create", project, "-c", "features.images=false", "-c", "features.profiles=false",
		"-c", "features.storage.volumes=false")
	t.Cleanup(func() { lxcOut("project", "delete", project) })
	const host = "pkghost"
	lxc(t, "init", "labcluster-member", host, "--project", project, "-c", "security.nesting=true",
		"-c", "security.idmap.isolated=true", "-c", "security.idmap.size=200000")
	t.Cleanup(func() { lxcOut("delete", "--force", host, "--project", project) })
	lxc(t, "start", host, "--project", project)
	in := func(script string) string {
		t.Helper()
		o, err := lxcExec(project, host, script)
		if err != nil {
			t.Fatalf("in %s: %s: %v\n%s", host, script, err, o)
		}
		return o
	}
	waitFor(t, "systemd up in "+host, 90*time.Second, func() bool {
		o, _ := lxcExec(project, host, "systemctl is-system-running")
		return strings.Contains(o, "running") || strings.Contains(o, "degraded")
	})
	waitFor(t, "LXD up in "+host, 60*time.Second, func() bool {
		_, err := lxcExec(project, host, "lxd waitready --timeout 1")
		return err == nil
	})
	push := func(file, to string) {
		t.Helper()
		lxc(t, "file", "push", file, host+to, "--project", project)
	}
	push(older, "/root/older.deb")
	push(newer, "/root/newer.deb")
	push(hangs, "/root/hangs.deb")
	in("dpkg -i /root/older.deb")
	in("systemctl start lxcgate")
	pid := func() string {
		return strings.TrimSpace(in("systemctl show -p MainPID --value lxcgate"))
	}
	status := in("cat /proc/" + pid() + "/status")
	uid := strings.TrimSpace(in("id -u lxcgate"))
	if !strings.Contains(status, "Uid:\t"+uid+"\t") || !strings.Contains(status, "CapEff:\t0000000000003000") {
		t.Fatalf("the unit's process is not lxcgate with CAP_NET_ADMIN and CAP_NET_RAW alone:\n%s", status)
	}
	waitFor(t, "doctor's LXD check in the journal", 30*time.Second, func() bool {
		return strings.Contains(in("journalctl -u lxcgate -o cat"), `check=lxd status=ok`)
	})
	if tbl := in("nft list table ip lxcgate"); !strings.Contains(tbl, "map ports") {
		t.Fatalf("no nftables table in %s:\n%s", host, tbl)
	}

	// A member outside logs in over SSH.
	key := filepath.Join(t.TempDir(), "alice")
	if o, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, o)
	}
	pub, _ := os.ReadFile(key + ".pub")
	cli := "runuser -u lxcgate -- lxcgate --config /etc/lxcgate/lxcgate.toml --data /var/lib/lxcgate "
	in("echo alice-password-1 | " + cli + "user add alice --password-stdin")
	in(fmt.Sprintf("echo '%s' | %s user key add alice", strings.TrimSpace(string(pub)), cli))
	addr := strings.Fields(lxc(t, "list", host, "--project", project, "-c", "4", "--format", "csv"))[0]
	login := func() result {
		return runCmd(t, "", "ssh", "-F", "/dev/null", "-p", "2222", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
			"-o", "ConnectTimeout=5", "alice@"+addr, "whoami")
	}
	if r := login(); r.code != 0 || !strings.HasPrefix(r.out, "alice") {
		t.Fatalf("ssh alice@%s whoami: %+v", addr, r)
	}
	hostKey := in("sha256sum /var/lib/lxcgate/ssh_host_ed25519_key")

	// reload applies a changed limit.
	in(`sed -i 's/^max_sessions_per_user = .*/max_sessions_per_user = 7/' /etc/lxcgate/lxcgate.toml`)
	in("systemctl reload lxcgate")
	waitFor(t, "the reload in the journal", 10*time.Second, func() bool {
		j := in("journalctl -u lxcgate -o cat")
		return strings.Contains(j, "reload: configuration read") && strings.Contains(j, "ssh.max_sessions_per_user")
	})

	// SIGKILL: systemd starts it again.
	before := pid()
	in("systemctl kill -s KILL lxcgate")
	waitFor(t, "systemd's restart after SIGKILL", 30*time.Second, func() bool {
		p := pid()
		o, _ := lxcExec(project, host, "systemctl is-active lxcgate")
		return p != "0" && p != before && strings.TrimSpace(o) == "active"
	})
	waitFor(t, "a login after the restart", 20*time.Second, func() bool { return login().code == 0 })

	// An upgrade keeps the database, host key and configuration.
	in("dpkg -i /root/newer.deb")
	waitFor(t, "active after the upgrade", 30*time.Second, func() bool {
		o, _ := lxcExec(project, host, "systemctl is-active lxcgate")
		return strings.TrimSpace(o) == "active"
	})
	if v := in("lxcgate version"); !strings.HasPrefix(v, "lxcgate 1.0.1-e2e") {
		t.Fatalf("version after the upgrade: %q", v)
	}
	if in("sha256sum /var/lib/lxcgate/ssh_host_ed25519_key") != hostKey {
		t.Fatal("the host key changed with the upgrade")
	}
	if !strings.Contains(in("cat /etc/lxcgate/lxcgate.toml"), "max_sessions_per_user = 7") {
		t.Fatal("the configuration changed with the upgrade")
	}
	waitFor(t, "alice's login after the upgrade", 20*time.Second, func() bool { return login().code == 0 })

	// The main loop hangs (a reload stuck, by the failpoint build): the
	// watchdog pings stop, systemd kills the gateway and starts it again.
	in("dpkg -i /root/hangs.deb")
	in(`mkdir -p /etc/systemd/system/lxcgate.service.d && printf '[Service]\nEnvironment=LXCGATE_FAILPOINT=reload:hang\nWatchdogSec=4s\n' >/etc/systemd/system/lxcgate.service.d/hang.conf`)
	in("systemctl daemon-reload && systemctl restart lxcgate")
	hung := pid()
	time.Sleep(5 * time.Second) // several watchdog periods: pings flow while the loop runs
	if p := pid(); p != hung {
		t.Fatalf("restarted while the loop ran: %s, then %s\n%s", hung, p, in("journalctl -u lxcgate -o cat | tail -20"))
	}
	in("systemctl reload lxcgate")
	waitFor(t, "systemd's restart after the watchdog", 30*time.Second, func() bool {
		p := pid()
		return p != "0" && p != hung && strings.Contains(in("journalctl -u lxcgate -o cat"), "Watchdog timeout")
	})
	in("rm -r /etc/systemd/system/lxcgate.service.d && systemctl daemon-reload && systemctl restart lxcgate")
	waitFor(t, "alice's login after the watchdog", 20*time.Second, func() bool { return login().code == 0 })

	// The journal: structured lines, never a secret.
	journal := in("journalctl -u lxcgate -o cat")
	admin := strings.TrimSpace(in("cat /var/lib/lxcgate/initial-admin-password 2>/dev/null || true"))
	for _, secret := range []string{"alice-password-1", admin} {
		if secret != "" && strings.Contains(journal, secret) {
			t.Fatalf("the journal shows a secret %q", secret)
		}
	}
	if !strings.Contains(journal, "msg=\"lxcgate listening\"") {
		t.Fatalf("no structured start line in the journal:\n%s", journal)
	}

	// remove: data kept, rules gone; purge: data, user and configuration gone.
	in("dpkg -r lxcgate")
	if o, _ := lxcExec(project, host, "systemctl is-active lxcgate"); strings.TrimSpace(o) == "active" {
		t.Fatal("still active after dpkg -r")
	}
	in("test -f /var/lib/lxcgate/lxcgate.db && test -f /var/lib/lxcgate/ssh_host_ed25519_key && id lxcgate")
	if o, err := lxcExec(project, host, "nft list table ip lxcgate"); err == nil {
		t.Fatalf("the table stayed after dpkg -r:\n%s", o)
	}
	if o := in("iptables -S"); strings.Contains(o, "LXCGATE") {
		t.Fatalf("chains stayed after dpkg -r:\n%s", o)
	}
	in("dpkg -P lxcgate")
	if o, err := lxcExec(project, host, "ls -d /var/lib/lxcgate /etc/lxcgate 2>&1; id lxcgate 2>&1"); err == nil || strings.Contains(o, "uid=") ||
		!strings.Contains(o, "No such file") {
		t.Fatalf("left after purge: %s", o)
	}
	in("test -S /var/lib/lxd/unix.socket") // LXD, not the package's, untouched
}
