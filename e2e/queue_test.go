package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// queueView is 'queue --json' as the tests read it.
type queueView struct {
	Position int    `json:"position"`
	User     string `json:"user"`
	Name     string `json:"name"`
	GPUs     int    `json:"gpus"`
	State    string `json:"state"`
}

func (g *gw) queue(user, key string) []queueView {
	g.t.Helper()
	r := g.must(user, key, "", "queue", "--json")
	var out []queueView
	if err := json.Unmarshal([]byte(r.out), &out); err != nil {
		g.t.Fatalf("queue --json: %v\n%s", err, r.out)
	}
	return out
}

// Scenario, on the nested cluster (member3 has two simulated GPUs): alice
// holds both; bob queues one with --queue and carol waits for one with
// --wait, in line in that order; bob sees carol's entry without her name.
// alice deletes hers: bob's and carol's launches start within seconds,
// carol's session returns as a launch does, and bob's next login says it
// started. Then the gateway is killed with dave's request queued and
// started again: the request is still there and starts when GPUs free.
func TestClusterGPUQueue(t *testing.T) {
	var mu sync.Mutex
	var hooks []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		hooks = append(hooks, m["user"]+": "+m["text"])
		mu.Unlock()
	}))
	defer rcv.Close()
	g, keys, _ := clusterGW(t, 31400, "LXCGATE_QUOTA_GPUS=2", "LXCGATE_CONTAINERS_DEFAULT_IMAGE=lxcgate-busybox",
		"LXCGATE_NOTIFY_WEBHOOK="+rcv.URL, "LXCGATE_GPU_RENEW_WHILE_WAITING=1h")
	alice, bob := keys["alice"], keys["bob"]
	carol := g.addUser("carol", "carol-password", false)
	dave := g.addUser("dave", "dave-password", false)

	bigSince := time.Now()
	r := g.must("alice", alice, "", "launch", "big", "--gpus", "2")
	if !strings.Contains(r.err, "Placed on member3") {
		t.Fatalf("alice's launch: %+v", r)
	}
	r = g.must("bob", bob, "", "launch", "b1", "--gpus", "1", "--queue")
	if !strings.Contains(r.err, "Queued b1 for 1 GPU: 1st in line (see 'queue')") {
		t.Fatalf("bob queues: %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wait := exec.CommandContext(ctx, "ssh", append(g.sshArgs("carol", "-i", carol, "-o", "BatchMode=yes"), "launch", "c1", "--gpus", "1", "--wait")...)
	var waitOut, waitErr strings.Builder
	wait.Stdout, wait.Stderr = &waitOut, &waitErr
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "carol's request in line", 20*time.Second, func() bool { return len(g.queue("bob", bob)) == 2 })
	q := g.queue("bob", bob)
	if q[0].User != "bob" || q[0].Name != "b1" || q[1].User != "(another user)" || q[1].Name != "" || q[1].GPUs != 1 {
		t.Fatalf("bob's view of the queue: %+v", q)
	}
	if r := g.must("boss", keys["admin"], "", "queue", "--all", "--json"); !strings.Contains(r.out, `"name": "c1"`) {
		t.Fatalf("the admin's view: %s", r.out)
	}
	if r := g.sshKey("alice", alice, "", "queue", "cancel", "b1"); r.code == 0 {
		t.Fatalf("alice cancels bob's request: %+v", r)
	}
	// While others wait, alice renews her GPUs for an hour at most.
	g.must("alice", alice, "", "renew", "big", "7d")
	if d := g.details("alice", alice, "big"); d.Expires == nil || d.Expires.After(time.Now().Add(61*time.Minute)) {
		t.Fatalf("renew while others wait: %+v", d.Expires)
	}

	g.must("alice", alice, "", "delete", "big", "--yes", "--force")
	freed := time.Now()
	held := freed.Sub(bigSince)
	waitFor(t, "bob's queued launch running", 30*time.Second, func() bool {
		cs := g.listJSON("bob", bob)
		return len(cs) == 1 && cs[0].State == "running"
	})
	t.Logf("bob's container ran %v after alice's GPUs were free", time.Since(freed).Round(100*time.Millisecond))
	if err := wait.Wait(); err != nil {
		t.Fatalf("carol's --wait: %v\n%s%s", err, waitOut.String(), waitErr.String())
	}
	if !strings.Contains(waitErr.String(), "Queued c1 for 1 GPU: 2nd in line") || !strings.Contains(waitErr.String(), "Launched c1") {
		t.Fatalf("carol's --wait said: %s", waitErr.String())
	}
	// The entry leaves the line when the dispatcher's launch returns, a
	// moment after the container runs (it waits for the address too).
	waitFor(t, "bob's entry out of the line", 30*time.Second, func() bool { return len(g.queue("bob", bob)) == 0 })
	waitFor(t, "bob's notice by webhook", 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(hooks, "bob: lxcgate: b1, queued for 1 GPU, was launched ('ssh GATEWAY details b1')")
	})
	// usage: alice booked two GPUs for as long as she held big.
	csv := g.must("boss", keys["admin"], "", "usage", "--all", "--since", "1d", "--format", "csv").out
	var booked float64
	for _, line := range strings.Split(csv, "\n") {
		if f := strings.Split(line, ","); len(f) > 3 && f[0] == "alice" {
			booked, _ = strconv.ParseFloat(f[3], 64)
		}
	}
	if want := 2 * held.Hours(); booked < want*0.5 || booked > want*1.5+0.001 {
		t.Fatalf("alice's GPU-hours booked %.5f, want about %.5f:\n%s", booked, want, csv)
	}
	if r := g.sshKey("alice", alice, "", "usage", "--all"); r.code == 0 {
		t.Fatalf("a member's usage --all: %+v", r)
	}
	// bob's next terminal login says his queued launch started.
	tt := g.tty("bob", "-i", bob, "-o", "BatchMode=yes")
	tt.expect("b1, queued for GPUs, was launched at")
	tt.send("exit\r")

	// dave queues for both GPUs; the gateway is killed and comes back.
	g.must("dave", dave, "", "launch", "d2", "--gpus", "2", "--queue")
	g.signal(syscall.SIGKILL)
	<-g.exited
	g.start()
	if q := g.queue("dave", dave); len(q) != 1 || q[0].Name != "d2" || q[0].GPUs != 2 {
		t.Fatalf("after the kill: %+v", q)
	}
	g.must("bob", bob, "", "delete", "b1", "--yes", "--force")
	g.must("carol", carol, "", "delete", "c1", "--yes", "--force")
	waitFor(t, "dave's queued launch", 30*time.Second, func() bool {
		cs := g.listJSON("dave", dave)
		return len(cs) == 1 && len(cs[0].GPUs) == 2
	})
}
