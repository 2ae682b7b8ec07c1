package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The database is lost: the containers come back with their owner and
// the same host ports, kept in LXD, and the DNAT rules match.
func TestLostDatabase(t *testing.T) {
	g, _ := portsGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	for _, n := range []string{"a", "b"} {
		if r := g.sshKey("alice", alice, "", "launch", n); r.code != 0 {
			t.Fatalf("launch %s: %+v", n, r)
		}
	}
	if r := g.sshKey("alice", alice, "", "port", "add", "a", "8080", "--name", "web"); r.code != 0 {
		t.Fatalf("port add: %+v", r)
	}
	before := g.containersOf("alice", alice)
	if len(before) != 2 || len(before["a"].Ports) != 2 || len(before["b"].Ports) != 1 {
		t.Fatalf("before: %+v", before)
	}
	waitFor(t, "both containers mapped", 30*time.Second, func() bool { return strings.Count(g.natRules(), "-j DNAT") == 3 })
	rulesBefore := g.natRules()

	g.signal(syscall.SIGTERM)
	<-g.exited
	data := filepath.Join(g.dir, "data")
	for _, f := range []string{"lxcgate.db", "lxcgate.db-wal", "lxcgate.db-shm"} {
		if err := os.Remove(filepath.Join(data, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	g.mustLxcgate("alice-password\n", "user", "add", "alice", "--password-stdin")
	pub, _ := os.ReadFile(alice + ".pub")
	g.mustLxcgate(string(pub), "user", "key", "add", "alice")
	known := g.known
	g.start()
	g.known = known
	// The log holds both runs: wait for the second run's first reconcile,
	// which comes after the adoption (the first run's line matched at once,
	// and 'list' raced the adoption).
	waitFor(t, "the start-up reconcile", 30*time.Second, func() bool { return strings.Count(g.logs(), "port mappings reconciled") >= 2 })

	after := g.containersOf("alice", alice)
	for n, c := range before {
		a := after[n]
		if a.Owner != "alice" || !reflect.DeepEqual(a.Ports, c.Ports) {
			t.Errorf("%s after the database was lost: %+v, want %+v", n, a, c)
		}
	}
	waitFor(t, "the same DNAT rules", 30*time.Second, func() bool { return g.natRules() == rulesBefore })
	for _, c := range before {
		for _, p := range c.Ports {
			if !strings.Contains(g.natRules(), fmt.Sprintf("--dport %d ", p.HostPort)) {
				t.Errorf("no rule for host port %d:\n%s", p.HostPort, g.natRules())
			}
		}
	}
}
