package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLXDKilledMidOperation SIGKILLs LXD's daemon in the middle of a
// launch, a snapshot and a delete, then starts it again: the command in
// flight fails with one line (or finishes), the gateway stays up, and
// within seconds of LXD's return the gateway and LXD agree again: no
// container the gateway does not list, none it lists that LXD lacks, none
// stuck "creating" or "deleting", every running one mapped.
func TestLXDKilledMidOperation(t *testing.T) {
	g, prefix := portsGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	t.Cleanup(func() {
		if exec.Command("lxd", "waitready", "--timeout", "1").Run() != nil {
			exec.Command("../scripts/lab.sh", "up").Run()
		}
	})
	g.must("alice", alice, "", "launch", "keep", "--image", "lxcgate-busybox")
	project := prefix + "alice"
	agree := func(step string) {
		t.Helper()
		var seen string
		for end := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			var names []string
			stuck := false
			for _, c := range g.listJSON("alice", alice) {
				stuck = stuck || c.State == "creating" || c.State == "deleting"
				names = append(names, c.Name+":"+c.State)
			}
			lx := lxdNames(t, project)
			seen = fmt.Sprintf("gateway %v, LXD %v", names, lx)
			var plain []string
			for _, n := range names {
				plain = append(plain, strings.Split(n, ":")[0])
			}
			if !stuck && strings.Join(plain, ",") == strings.Join(lx, ",") {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("the gateway and LXD disagree a minute after %s: %s\n%s", step, seen, g.logs())
			}
		}
	}
	for _, op := range [][]string{
		{"launch", "mid", "--image", "lxcgate-debian"},
		{"snapshot", "keep", "s1"},
		{"delete", "mid", "--yes"},
	} {
		cmd := exec.Command("ssh", append(g.sshArgs("alice", "-i", alice, "-o", "BatchMode=yes"), op...)...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the operation is in LXD's hands
		killLXD(t)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if o := strings.TrimSpace(out.String()); err != nil {
				// A progress line ("Creating mid") may come first; the error is one line.
				last := o[strings.LastIndex(o, "\n")+1:]
				parts := strings.Split(last, ": ")
				for i := 1; i < len(parts); i++ {
					if parts[i] == parts[i-1] {
						t.Errorf("%v while LXD died: %q says %q twice", op, last, parts[i])
					}
				}
				if !strings.HasPrefix(last, "error: ") || strings.Count(o, "error:") != 1 {
					t.Errorf("%v while LXD died: not one clear line:\n%s", op, o)
				}
			}
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v hung after LXD died", op)
		}
		if o, err := exec.Command("../scripts/lab.sh", "up").CombinedOutput(); err != nil {
			t.Fatalf("lab up after killing LXD: %v %s", err, o)
		}
		select {
		case err := <-g.exited:
			t.Fatalf("the gateway exited: %v\n%s", err, g.logs())
		default:
		}
		agree(strings.Join(op, " "))
		t.Logf("%v with LXD killed: %q", op, strings.TrimSpace(out.String()))
	}
	// The survivor runs and is mapped; the gateway works as before.
	waitFor(t, "keep mapped", 30*time.Second, func() bool { return strings.Contains(g.natRules(), "alice/keep:") })
	g.must("alice", alice, "", "launch", "after", "--image", "lxcgate-busybox")
	agree("a launch after")
}

// killLXD SIGKILLs the lab's LXD daemon: its instances keep running.
func killLXD(t *testing.T) {
	t.Helper()
	out, err := exec.Command("pgrep", "-xf", "lxd --group root --logfile /var/log/lxd-lab.log").Output()
	pid, convErr := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || convErr != nil {
		t.Fatalf("the lab's LXD daemon is not running: %v %q", err, out)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "LXD gone", 10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil })
}
