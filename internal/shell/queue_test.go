package shell

import (
	"io"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// Scenario: bob's launch waits in the queue while alice holds the one
// GPU; alice sees his entry masked; he withdraws it; usage shows alice's
// booked hours, and only admins may ask for everyone's.
func TestQueueAndUsageCommands(t *testing.T) {
	sh, fake := newContainerShell(t)
	fake.HostGPUs = []lxd.GPU{{ID: "0", Vendor: "NVIDIA", Model: "A100", PCI: "0000:01:00.0"}}
	for _, tc := range []struct {
		user      string
		line      string
		code      int
		out, errw string
	}{
		{"alice", "launch g --gpus 1", 0, "", "Launched g"},
		{"bob", "launch q --gpus 1 --queue", 0, "", "Queued q for 1 GPU: 1st in line (see 'queue')"},
		{"bob", "launch q --gpus 1 --queue", 1, "", "already queued"},
		{"bob", "launch r --queue", 1, "", "--gpus N or --gpu LIST"},
		{"alice", "queue", 0, "(another user)", ""},
		{"bob", "queue --json", 0, `"name": "q"`, ""},
		{"alice", "queue cancel q", 1, "", "nothing of yours named q is queued"},
		{"bob", "queue cancel q", 0, "", "Withdrew q from the queue."},
		{"bob", "queue", 0, "", "Nobody waits for GPUs."},
		{"alice", "usage --by day", 0, "GPU-H BOOKED", ""},
		{"alice", "usage --all", 1, "", "needs the admin role"},
		{"alice", "usage --since soon", 2, "", "--since"},
		{"alice", "usage --by year", 2, "", "year"},
	} {
		u := alice
		if tc.user == "bob" {
			u = bob
		}
		code, out, errw := exec(sh, u, false, tc.line, "")
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.errw) {
			t.Errorf("%s as %s: %d %q %q; want %d %q %q", tc.line, tc.user, code, out, errw, tc.code, tc.out, tc.errw)
		}
	}
}

// A notice reaches alice's open terminal at once, as a line, keeping what
// she was typing; bob's session hears nothing of hers.
func TestTellWritesOnOpenSessions(t *testing.T) {
	sh, _, _ := newShell()
	a := startTerminal(sh, alice, false)
	a.waitFor(t, "alice@gpu1> ")
	b := startTerminal(sh, bob, false)
	b.waitFor(t, "bob@gpu1> ")
	io.WriteString(a.in, "who")
	a.waitFor(t, "who")
	if n := sh.Tell("alice", "lxcgate: the lease of box runs out at 12:00 UTC, in 1h"); n != 1 {
		t.Fatalf("told %d sessions", n)
	}
	a.waitFor(t, "the lease of box runs out")
	io.WriteString(a.in, "ami\r")
	a.waitFor(t, "alice (user)")
	if strings.Contains(b.screen(), "lease of box") {
		t.Fatal("bob heard alice's notice")
	}
	io.WriteString(a.in, "exit\r")
	<-a.done
	if n := sh.Tell("alice", "again"); n != 0 {
		t.Fatalf("a closed session was told: %d", n)
	}
}
