package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRunOrderAndLXDDown(t *testing.T) {
	dir := t.TempDir()
	e := Env{
		LXD:       fakeLXD{err: errors.New("connection refused")},
		Runner:    scriptRunner{"iptables --version": "iptables v1.8.9 (nf_tables)"},
		LookPath:  func(string) (string, error) { return "", errors.New("no") },
		InUse:     func(int) bool { return false },
		PortFirst: 20000, PortLast: 29999, ChainPrefix: "LXCGATE",
		DataDir: dir, DBFile: filepath.Join(dir, "lxcgate.db"), HostKey: filepath.Join(dir, "key"),
	}
	r := Run(context.Background(), e)
	want := []string{"lxd", "storage pool", "bridge", "gpus", "iptables backend", "iptables chains", "host port range", "data permissions", "host key"}
	if len(r.Checks) != len(want) {
		t.Fatalf("%d checks: %+v", len(r.Checks), r.Checks)
	}
	for i, c := range r.Checks {
		if c.Name != want[i] || c.Detail == "" {
			t.Errorf("check %d: %+v, want %s with a detail", i, c, want[i])
		}
	}
	if r.Checks[0].Status != Fail || r.Failures() < 1 {
		t.Fatalf("LXD down must fail: %+v", r.Checks[0])
	}
}

func TestRunHealthy(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := Env{
		LXD: fakeLXD{gpus: 1, host: Host{Version: "5.0.2", Pool: "default", PoolDriver: "zfs", Network: "lxdbr0",
			NetworkConfig: map[string]string{"ipv4.nat": "true", "dns.mode": "none"}}},
		Runner: scriptRunner{
			"iptables --version":  "iptables v1.8.9 (nf_tables)",
			"iptables -t nat -S":  "-N LXCGATE-DNAT\n-A PREROUTING -m addrtype --dst-type LOCAL -j LXCGATE-DNAT\n",
			"iptables -S FORWARD": "-P FORWARD DROP\n",
		},
		LookPath:  func(string) (string, error) { return "", errors.New("no") },
		InUse:     func(int) bool { return false },
		PortFirst: 20000, PortLast: 29999, ChainPrefix: "LXCGATE", NAT: true,
		DataDir: dir, DBFile: filepath.Join(dir, "lxcgate.db"), HostKey: filepath.Join(dir, "key"),
	}
	r := Run(context.Background(), e)
	if r.Failures() > 0 {
		t.Fatalf("%+v", r.Checks)
	}
	for _, c := range r.Checks {
		if c.Status != OK && c.Name != "host key" {
			t.Errorf("%+v", c)
		}
	}
}
