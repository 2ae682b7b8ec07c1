package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackage builds the Debian package as 'make deb' does and checks what
// it installs, that the configuration is a conffile, that the binary says
// the version it was built as, and that the configuration it ships is the
// binary's own commented default.
func TestPackage(t *testing.T) {
	need(t, "dpkg-deb")
	out := t.TempDir()
	const version = "1.2.3-e2e"
	mk := exec.Command("go", "run", "./tools/mkdeb", "-out", out, "-version", version)
	mk.Dir = ".."
	b, err := mk.CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./tools/mkdeb: %v\n%s", err, b)
	}
	deb := filepath.Join(out, "lxcgate_1.2.3+e2e_"+goarch(t)+".deb")
	if got := strings.TrimSpace(string(b)); !strings.HasSuffix(got, deb) {
		t.Fatalf("mkdeb wrote %q, want %s", got, deb)
	}

	list := dpkg(t, "-c", deb)
	for _, f := range []string{"./usr/bin/lxcgate", "./etc/lxcgate/lxcgate.toml",
		"./usr/lib/systemd/system/lxcgate.service", "./usr/lib/sysusers.d/lxcgate.conf"} {
		if !strings.Contains(list, " "+f+"\n") {
			t.Errorf("the package lacks %s:\n%s", f, list)
		}
	}
	if !strings.Contains(list, "-rwxr-xr-x root/root") {
		t.Errorf("no executable in the package:\n%s", list)
	}

	info := dpkg(t, "-I", deb)
	for _, want := range []string{"conffiles", "postinst", "Package: lxcgate", "Version: 1.2.3+e2e", "Depends: iptables"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	if conf := dpkg(t, "-I", deb, "conffiles"); strings.TrimSpace(conf) != "/etc/lxcgate/lxcgate.toml" {
		t.Errorf("conffiles = %q, want /etc/lxcgate/lxcgate.toml", conf)
	}
	post := dpkg(t, "-I", deb, "postinst")
	for _, want := range []string{"systemd-sysusers", "adduser --system --group --home /var/lib/lxcgate lxcgate", "lxd"} {
		if !strings.Contains(post, want) {
			t.Errorf("postinst lacks %q:\n%s", want, post)
		}
	}

	root := t.TempDir()
	dpkg(t, "-x", deb, root)
	v, err := exec.Command(filepath.Join(root, "usr/bin/lxcgate"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(v), "lxcgate "+version+" ") {
		t.Errorf("packaged lxcgate version: %v %q, want it to say %s", err, v, version)
	}
	conf, _ := os.ReadFile(filepath.Join(root, "etc/lxcgate/lxcgate.toml"))
	def, err := exec.Command(binary, "config", "--default").Output()
	if err != nil || string(conf) != string(def) || len(conf) == 0 {
		t.Errorf("the packaged lxcgate.toml is not 'lxcgate config --default' (%v)", err)
	}
	unit, _ := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/lxcgate.service"))
	if src, _ := os.ReadFile("../packaging/lxcgate.service"); string(unit) != string(src) {
		t.Error("the packaged unit differs from packaging/lxcgate.service")
	}
	users, _ := os.ReadFile(filepath.Join(root, "usr/lib/sysusers.d/lxcgate.conf"))
	if !strings.Contains(string(users), "u lxcgate - ") || !strings.Contains(string(users), "/var/lib/lxcgate") {
		t.Errorf("sysusers.d entry: %q", users)
	}
}

func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func goarch(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
