package containers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/users"
)

// newQueueService is a host with two GPUs and four users, each allowed
// two GPUs and three containers.
func newQueueService(t *testing.T) (*Service, context.Context) {
	t.Helper()
	ctx := context.Background()
	s, fake, us := newService(t)
	for _, n := range []string{"carol", "dave"} {
		us.Add(ctx, n, users.RoleUser, "")
	}
	s.conf().Quota.GPUs, s.conf().Quota.Containers = 2, 3
	s.conf().FairshareWindow, s.conf().StarvationAfter, s.conf().RenewWhileWaiting = 7*24*time.Hour, 6*time.Hour, 2*time.Hour
	s.conf().LeaseMax = 30 * 24 * time.Hour
	fake.HostGPUs = []lxd.GPU{{ID: "0", PCI: "0000:01:00.0"}, {ID: "1", PCI: "0000:02:00.0"}}
	return s, ctx
}

// mustQueue queues a launch; queueAs queues req as given (a create when
// it does not start).
func mustQueue(t *testing.T, s *Service, user string, req CreateRequest) QueuedLaunch {
	t.Helper()
	req.Start = true
	return queueAs(t, s, user, req)
}

func queueAs(t *testing.T, s *Service, user string, req CreateRequest) QueuedLaunch {
	t.Helper()
	_, q, err := s.LaunchOrQueue(context.Background(), user, req)
	if !errors.Is(err, ErrQueued) {
		t.Fatalf("%s %s: %v, want it queued", user, req.Name, err)
	}
	return q
}

// The queue walk-through: alice holds both GPUs; bob then carol queue;
// carol booked fewer GPU-hours this week, so she goes first; freed GPUs
// start the first in line, whose owner is told at the next login; the
// others see positions, never names.
func TestQueueFairShare(t *testing.T) {
	s, ctx := newQueueService(t)
	if _, q, err := s.LaunchOrQueue(ctx, "alice", CreateRequest{Name: "big", GPUs: 2, Start: true}); err != nil || q.Position != 0 {
		t.Fatalf("free GPUs launch at once: %+v %v", q, err)
	}
	// bob used a GPU for ten hours yesterday.
	yesterday := time.Now().Add(-30 * time.Hour)
	s.st.GPUHistory.Open(ctx, s.db, "bob", "old", []string{"0000:01:00.0"}, yesterday)
	s.st.GPUHistory.Close(ctx, s.db, "bob", "old", yesterday.Add(10*time.Hour))
	if q := mustQueue(t, s, "bob", CreateRequest{Name: "b1", GPUs: 1}); q.Position != 1 || q.GPUs != 1 {
		t.Fatalf("bob: %+v", q)
	}
	if q := mustQueue(t, s, "carol", CreateRequest{Name: "c1", GPU: "0"}); q.Position != 1 {
		t.Fatalf("carol, with fewer GPU-hours, goes first: %+v", q)
	}
	list, _ := s.Queue(ctx, "bob", false)
	if len(list) != 2 || list[0].User != AnotherUser || list[0].Name != "" || list[1].User != "bob" || list[1].Name != "b1" {
		t.Fatalf("bob's view: %+v", list)
	}
	all, _ := s.Queue(ctx, "root", true)
	if all[0].User != "carol" || all[1].User != "bob" {
		t.Fatalf("the admin's view: %+v", all)
	}
	// Refusals: a name already queued, more than the quota, more than any host has.
	if _, _, err := s.LaunchOrQueue(ctx, "bob", CreateRequest{Name: "b1", GPUs: 1}); err == nil || !strings.Contains(err.Error(), "already queued") {
		t.Fatalf("twice: %v", err)
	}
	s.SetQuota(ctx, "dave", QuotaChange{GPUs: ptr(1)})
	if _, _, err := s.LaunchOrQueue(ctx, "dave", CreateRequest{Name: "d", GPUs: 2}); !errors.Is(err, ErrQuota) {
		t.Fatalf("over the quota: %v", err)
	}
	if _, _, err := s.LaunchOrQueue(ctx, "bob", CreateRequest{Name: "b9", GPUs: 3}); err == nil {
		t.Fatal("3 GPUs queued on a 2-GPU host")
	}
	if _, _, err := s.LaunchOrQueue(ctx, "bob", CreateRequest{Name: "b9"}); err == nil || !strings.Contains(err.Error(), "--gpus") {
		t.Fatalf("no GPUs asked: %v", err)
	}
	// While they wait, alice renews for two hours at most.
	until, err := s.Renew(ctx, "alice", "big", 7*24*time.Hour)
	if err != nil || until.After(time.Now().Add(2*time.Hour+time.Minute)) {
		t.Fatalf("renew while others wait: %v %v", until, err)
	}
	// Nothing frees: nothing starts.
	s.DispatchQueue(ctx)
	if list, _ := s.Queue(ctx, "carol", false); len(list) != 2 {
		t.Fatalf("started without GPUs: %+v", list)
	}
	// alice deletes: carol's launch starts (GPU 0, as she named it), then
	// bob's on the other.
	if err := s.Delete(ctx, "alice", "big", true); err != nil {
		t.Fatal(err)
	}
	s.DispatchQueue(ctx)
	c, err := s.Get(ctx, "carol", "c1")
	if err != nil || c.State != "running" || c.GPUs[0] != "0000:01:00.0" {
		t.Fatalf("carol's queued launch: %+v %v", c, err)
	}
	if b, err := s.Get(ctx, "bob", "b1"); err != nil || b.GPUs[0] != "0000:02:00.0" {
		t.Fatalf("bob's: %+v %v", b, err)
	}
	if list, _ := s.Queue(ctx, "bob", false); len(list) != 0 {
		t.Fatalf("left in line: %+v", list)
	}
	ns, _ := s.Notices(ctx, "carol", time.Time{}, time.Hour)
	if len(ns) != 1 || ns[0].Reason != NoticeQueueStarted || ns[0].Name != "c1" {
		t.Fatalf("carol's notices: %+v", ns)
	}
	s.Told(ctx, "carol")
	if ns, _ := s.Notices(ctx, "carol", time.Time{}, time.Hour); len(ns) != 0 {
		t.Fatalf("told twice: %+v", ns)
	}
}

// A request waiting past the starvation time goes first and keeps the
// GPUs freed for it: a later 1-GPU request does not take them.
func TestQueueStarvation(t *testing.T) {
	s, ctx := newQueueService(t)
	s.LaunchOrQueue(ctx, "alice", CreateRequest{Name: "a0", GPU: "0", Start: true})
	s.LaunchOrQueue(ctx, "alice", CreateRequest{Name: "a1", GPU: "1", Start: true})
	mustQueue(t, s, "dave", CreateRequest{Name: "big", GPUs: 2})
	mustQueue(t, s, "bob", CreateRequest{Name: "small", GPUs: 1})
	// dave has waited seven hours.
	s.db.Exec(`UPDATE gpu_queue SET created_at = ? WHERE name = 'big'`, time.Now().Add(-7*time.Hour).UnixNano())
	list, _ := s.Queue(ctx, "dave", false)
	if list[0].Name != "big" || !list[0].Starved {
		t.Fatalf("the starved request is not first: %+v", list)
	}
	s.Delete(ctx, "alice", "a0", true)
	s.DispatchQueue(ctx)
	if _, err := s.Get(ctx, "bob", "small"); err == nil {
		t.Fatal("bob's small request took the GPU kept for dave")
	}
	s.Delete(ctx, "alice", "a1", true)
	s.DispatchQueue(ctx)
	if c, err := s.Get(ctx, "dave", "big"); err != nil || len(c.GPUs) != 2 {
		t.Fatalf("dave's: %+v %v", c, err)
	}
	if list, _ := s.Queue(ctx, "bob", false); len(list) != 1 || list[0].Name != "small" {
		t.Fatalf("bob still waits: %+v", list)
	}
	if err := s.CancelQueued(ctx, "alice", "small"); !errors.Is(err, ErrNoSuch) {
		t.Fatalf("alice cancels bob's: %v", err)
	}
	if err := s.CancelQueued(ctx, "bob", "small"); err != nil {
		t.Fatal(err)
	}
}

// A gateway killed while starting a queued launch: at its next start the
// request is started when its container exists, waiting again when not;
// a request whose user was disabled meanwhile fails with a notice.
func TestQueueRecovery(t *testing.T) {
	s, ctx := newQueueService(t)
	s.LaunchOrQueue(ctx, "alice", CreateRequest{Name: "all", GPUs: 2, Start: true})
	mustQueue(t, s, "bob", CreateRequest{Name: "made", GPUs: 1})
	mustQueue(t, s, "carol", CreateRequest{Name: "lost", GPUs: 1})
	es, _ := s.st.Queue.List(ctx, s.db)
	for _, e := range es {
		s.st.Queue.SetState(ctx, s.db, e.ID, store.QueueStarting, "", time.Now())
	}
	s.conf().SharedGPUs = true // bob's container was made before the kill
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "made", GPUs: 1}); err != nil {
		t.Fatal(err)
	}
	s.conf().SharedGPUs = false
	s.recoverQueue(ctx)
	es, _ = s.st.Queue.List(ctx, s.db)
	states := map[string]string{}
	for _, e := range es {
		states[e.Name] = e.State
	}
	if states["made"] != store.QueueStarted || states["lost"] != store.QueueWaiting {
		t.Fatalf("after recovery: %v", states)
	}
	// carol is disabled; alice's GPUs go back: carol's launch fails, told.
	s.db.Exec(`UPDATE users SET disabled = 1 WHERE name = 'carol'`)
	s.Delete(ctx, "alice", "all", true)
	s.DispatchQueue(ctx)
	ns, _ := s.Notices(ctx, "carol", time.Time{}, time.Hour)
	if len(ns) != 1 || ns[0].Reason != NoticeQueueFailed || !strings.Contains(ns[0].Detail, "disabled") {
		t.Fatalf("carol's notices: %+v", ns)
	}
	if _, err := s.Get(ctx, "carol", "lost"); err == nil {
		t.Fatal("a disabled user's queued launch started")
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 102: "102nd"} {
		if got := Ordinal(n); got != want {
			t.Errorf("%d: %s", n, got)
		}
	}
}

// create --queue makes the container when its GPUs free up, stopped.
func TestQueuedCreateStaysStopped(t *testing.T) {
	s, ctx := newQueueService(t)
	s.LaunchOrQueue(ctx, "alice", CreateRequest{Name: "all", GPUs: 2, Start: true})
	queueAs(t, s, "bob", CreateRequest{Name: "later", GPUs: 1})
	s.Delete(ctx, "alice", "all", true)
	s.DispatchQueue(ctx)
	if c, err := s.Get(ctx, "bob", "later"); err != nil || c.State != "stopped" {
		t.Fatalf("create --queue: %+v %v", c, err)
	}
}

// A member cannot fill the queue with names made up in a loop: their
// requests in line are bounded by their containers quota.
func TestQueueBoundedPerUser(t *testing.T) {
	s, ctx := newQueueService(t)
	s.LaunchOrQueue(ctx, "alice", CreateRequest{Name: "all", GPUs: 2, Start: true})
	for i, name := range []string{"q1", "q2", "q3"} {
		if q := mustQueue(t, s, "bob", CreateRequest{Name: name, GPUs: 1}); q.Position != i+1 {
			t.Fatalf("%s: %+v", name, q)
		}
	}
	if _, _, err := s.LaunchOrQueue(ctx, "bob", CreateRequest{Name: "q4", GPUs: 1, Start: true}); !errors.Is(err, ErrQuota) {
		t.Fatalf("a fourth request in line: %v", err)
	}
	if q := mustQueue(t, s, "carol", CreateRequest{Name: "c1", GPUs: 1}); q.Position != 4 {
		t.Fatalf("carol is not held back by bob's bound: %+v", q)
	}
}
