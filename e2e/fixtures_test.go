package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fixtures: the lab (bridges, client namespace, nested cluster) and the
// gateways the tests start on it, each with projects and chains of its own.

// labNet is a lab bridge that the network tests run on.
type labNet struct {
	name   string // the LXD network
	gw     string // the bridge's own IPv4 address
	subnet string // how its hosts' IPv4 addresses begin
	env    []string
}

// labNets: lxdbr0, IPv4 only, which the default profile's NIC joins, and
// lxdbr6 with IPv6 on, as LXD makes its default bridge, where LXD lists an
// IPv4 and an IPv6 lease for each instance (containers.network puts the
// test gateway's containers there).
var labNets = []labNet{
	{name: "lxdbr0", gw: "10.166.0.1", subnet: "10.166.0."},
	{name: "lxdbr6", gw: "10.167.0.1", subnet: "10.167.0.", env: []string{"LXCGATE_CONTAINERS_NETWORK=lxdbr6"}},
}

// onLabNets runs f once per lab bridge, as a subtest named after it.
func onLabNets(t *testing.T, f func(t *testing.T, n labNet)) {
	for _, n := range labNets {
		t.Run(n.name, func(t *testing.T) { f(t, n) })
	}
}

// needLab fails in CI, and skips elsewhere, when the LXD lab is not up.
func needLab(t *testing.T) {
	t.Helper()
	need(t, "lxc", "ip")
	if out, err := exec.Command("../scripts/lab.sh", "status").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the lab is not up (run scripts/lab.sh up):\n%s", out)
		}
		t.Skipf("the lab is not up (run scripts/lab.sh up):\n%s", out)
	}
}

// subnet is how addresses on the bridge of g's containers begin.
func (g *gw) subnet() string {
	network := labNets[0].name
	for _, e := range g.envVars {
		if v, ok := strings.CutPrefix(e, "LXCGATE_CONTAINERS_NETWORK="); ok {
			network = v
		}
	}
	for _, n := range labNets {
		if n.name == network {
			return n.subnet
		}
	}
	return labNets[0].subnet
}

// labGW starts a gateway on the lab with small busybox containers. Its
// LXD projects carry the prefix of its own newGW gives it, so that tests
// never see each other's containers; everything under the prefix is
// removed at the end.
func labGW(t *testing.T, env ...string) (*gw, string) {
	t.Helper()
	needLab(t)
	env = append([]string{
		"LXCGATE_CONTAINERS_DEFAULT_IMAGE=lxcgate-busybox",
		"LXCGATE_CONTAINERS_MEMORY=256MiB", "LXCGATE_CONTAINERS_DISK=1GiB", "LXCGATE_CONTAINERS_CPU=1",
	}, env...)
	g := newGW(t, env...)
	t.Cleanup(func() { removeProjects(lxcOut, g.prefix) })
	return g, g.prefix
}

// The lab's fixed addresses (scripts/lab.sh) and the first host port the
// tests' gateways publish.
const (
	hostAddr  = "10.177.0.1" // the host, as the client namespace sees it
	clientNS  = "lxcgate-client"
	portFirst = 24000
)

// portsGW is a lab gateway publishing ports to the client namespace; its
// chains are its own (newGW), so gateways of other tests running at the
// same time never undo each other's rules, and are removed at the end.
func portsGW(t *testing.T, env ...string) (*gw, string) {
	t.Helper()
	return labGW(t, append([]string{"LXCGATE_PORTS_PUBLIC_ADDRESS=" + hostAddr,
		fmt.Sprintf("LXCGATE_PORTS_RANGE=%d-%d", portFirst, portFirst+99), "LXCGATE_PORTS_RECONCILE_INTERVAL=1h"}, env...)...)
}

// webGW is a lab gateway with its web listener on a loopback port of its
// own; it returns the gateway and the listener's base URL.
func webGW(t *testing.T, env ...string) (*gw, string) {
	t.Helper()
	base := "http://127.0.0.1:" + freePort(t)
	g, _ := labGW(t, append([]string{"LXCGATE_WEB_LISTEN=" + strings.TrimPrefix(base, "http://"), "LXCGATE_WEB_PUBLIC_URL=" + base}, env...)...)
	return g, base
}

// clusterGW is a gateway on the lab's LXD cluster, with projects, chains
// and a port range of the test's own (env adds to its environment, the
// last word winning); alice and bob are users, admin an admin. Cleanup
// deletes the test's projects on the cluster.
func clusterGW(t *testing.T, first int, env ...string) (*gw, map[string]string, string) {
	t.Helper()
	c := needCluster(t)
	n := time.Now().UnixNano() % 1e6
	prefix, chains := fmt.Sprintf("e2ec%d-", n), fmt.Sprintf("E2EC%d", n)
	g := newGW(t, append([]string{"LXCGATE_CONFIG=" + c.Config, "LXCGATE_CONTAINERS_PROJECT_PREFIX=" + prefix,
		"LXCGATE_PORTS_CHAIN_PREFIX=" + chains, fmt.Sprintf("LXCGATE_PORTS_RANGE=%d-%d", first, first+49),
		"LXCGATE_PORTS_PUBLIC_ADDRESS=" + hostAddr, "LXCGATE_PORTS_RECONCILE_INTERVAL=2s"}, env...)...)
	g.chains = chains
	keys := map[string]string{
		"alice": g.addUser("alice", "alice-password", false),
		"bob":   g.addUser("bob", "bob-password", false),
		"admin": g.addUser("boss", "boss-password", true),
	}
	t.Cleanup(func() {
		g.lxcgate("", "portmap", "flush")
		removeProjects(nested, prefix)
	})
	g.start()
	return g, keys, prefix
}

// clusterLab is what "scripts/lab.sh cluster status --json" prints.
type clusterLab struct {
	Config  string `json:"config"`
	Members []struct {
		Name          string `json:"name"`
		Address       string `json:"address"`
		OuterProject  string `json:"outer_project"`
		OuterInstance string `json:"outer_instance"`
	} `json:"members"`
}

// needCluster fails in CI, and skips elsewhere, when the lab's LXD cluster is
// not up; otherwise it returns the cluster's description.
func needCluster(t *testing.T) clusterLab {
	t.Helper()
	need(t, "lxc")
	var stderr bytes.Buffer
	status := func() ([]byte, error) {
		stderr.Reset()
		cmd := exec.Command("../scripts/lab.sh", "cluster", "status", "--json")
		cmd.Stderr = &stderr
		return cmd.Output()
	}
	out, err := status()
	if err != nil && os.Getenv("CI") == "true" {
		// Something on the host may have dropped a piece (a route goes
		// when lxdbr0 restarts): 'cluster up' puts back what is missing,
		// in about a second on a running cluster.
		if up, uerr := exec.Command("../scripts/lab.sh", "cluster", "up").CombinedOutput(); uerr != nil {
			t.Logf("cluster up: %v\n%s", uerr, up)
		}
		out, err = status()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the lab cluster is not up (run scripts/lab.sh cluster up): %v\n%s%s", err, out, stderr.Bytes())
		}
		t.Skipf("the lab cluster is not up (run scripts/lab.sh cluster up): %v\n%s", err, out)
	}
	var c clusterLab
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("cluster status --json: %v\n%s", err, out)
	}
	return c
}

// openDB opens the gateway's database beside it, as a second writer would.
func openDB(t *testing.T, g *gw) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(g.dir, "data", "lxcgate.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// waitFor polls ok every 100 ms and fails the test if it is not true within
// the time given.
func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitIPv4 waits for user's container to run with an address and
// returns the address.
func (g *gw) waitIPv4(user, key, name string) string {
	g.t.Helper()
	ip := ""
	waitFor(g.t, name+" has an address", 30*time.Second, func() bool {
		for _, c := range g.listJSON(user, key) {
			if c.Name == name && c.State == "running" && strings.HasPrefix(c.IPv4, g.subnet()) {
				ip = c.IPv4
				return true
			}
		}
		return false
	})
	return ip
}
