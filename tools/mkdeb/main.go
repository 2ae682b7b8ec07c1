// Command mkdeb builds the Debian package of lxcgate with nfpm (as a
// library, no nfpm binary needed): go run ./tools/mkdeb [-out dist].
// It builds the binary with the version stamped in, generates the
// commented default configuration from that binary, and packs them with
// the systemd unit, the sysusers.d entry and the maintainer scripts in
// packaging/. Run it from the repository root.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

func main() {
	out := flag.String("out", "dist", "the directory to write the package to")
	version := flag.String("version", "", "the version (default: git describe --tags --always --dirty)")
	arch := flag.String("arch", runtime.GOARCH, "the target architecture (GOARCH)")
	tags := flag.String("tags", "", "build tags (tests only: failpoint builds a binary a test can hang or kill)")
	flag.Parse()
	if *version == "" {
		*version = gitVersion()
	}
	path, err := build(*out, *version, *arch, *tags)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

// gitVersion is what git describes the work tree as, or 0.0.0-dev.
func gitVersion() string {
	out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "0.0.0-dev"
}

// debVersion makes a git description a Debian version: no leading v, a
// digit first (a bare commit becomes 0.0.0~git<commit>), '-' as '+' so
// that dpkg reads no Debian revision into it.
func debVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	if v == "" || v[0] < '0' || v[0] > '9' {
		v = "0.0.0~git" + v
	}
	return strings.ReplaceAll(v, "-", "+")
}

func build(outDir, version, arch, tags string) (string, error) {
	tmp, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, "lxcgate")
	gobuild := exec.Command("go", "build", "-trimpath", "-tags", tags, "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/lxcgate")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	gobuild.Stdout, gobuild.Stderr = os.Stderr, os.Stderr
	if err := gobuild.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}

	// The configuration file is the binary's own commented default; with a
	// cross-built binary, one for this machine prints it.
	confBin := bin
	if arch != runtime.GOARCH {
		confBin = filepath.Join(tmp, "lxcgate-host")
		if out, err := exec.Command("go", "build", "-o", confBin, "./cmd/lxcgate").CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build (host): %v\n%s", err, out)
		}
	}
	var conf, stderr bytes.Buffer
	c := exec.Command(confBin, "config", "--default")
	c.Env = []string{"PATH=" + os.Getenv("PATH")} // no LXCGATE_* from the caller
	c.Stdout, c.Stderr = &conf, &stderr
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("lxcgate config --default: %v: %s", err, stderr.String())
	}
	toml := filepath.Join(tmp, "lxcgate.toml")
	if err := os.WriteFile(toml, conf.Bytes(), 0o644); err != nil {
		return "", err
	}

	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "lxcgate",
		Arch:          arch,
		Platform:      "linux",
		Version:       debVersion(version),
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "lxcgate maintainers <lxcgate@localhost>",
		Description: "SSH gateway to a GPU lab's LXD containers\n" +
			"Lab members ssh to one binary and manage their own LXD containers, with GPUs,\n" +
			"quotas and stable published ports, from a small restricted shell.",
		Homepage: "https://github.com/lxcgate/lxcgate",
		License:  "Apache-2.0",
		MTime:    time.Now().UTC().Truncate(time.Second),
		Overridables: nfpm.Overridables{
			Depends:    []string{"iptables", "adduser"},
			Recommends: []string{"lxd | lxd-installer", "nftables"},
			Contents: files.Contents{
				{Source: bin, Destination: "/usr/bin/lxcgate", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: toml, Destination: "/etc/lxcgate/lxcgate.toml", Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: "packaging/lxcgate.service", Destination: "/usr/lib/systemd/system/lxcgate.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: "packaging/lxcgate.sysusers", Destination: "/usr/lib/sysusers.d/lxcgate.conf", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			},
			Scripts: nfpm.Scripts{
				PostInstall: "packaging/postinst.sh",
				PreRemove:   "packaging/prerm.sh",
				PostRemove:  "packaging/postrm.sh",
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(outDir, pkg.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("packing %s: %w", path, err)
	}
	return path, f.Close()
}
