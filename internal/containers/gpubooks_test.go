package containers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
)

var gpu0 = lxd.GPU{ID: "0", PCI: "0000:01:00.0", Model: "H100"}

// instanceGPUs is what GPUs an instance carries in the fake, as LXD would
// pass them through.
func instanceGPUs(t *testing.T, fake *lxdtest.Fake, user, name string) []string {
	t.Helper()
	in, err := fake.Get(context.Background(), "lxcgate-"+user, name)
	if err != nil {
		t.Fatal(err)
	}
	return in.GPUs
}

// expire runs a container's lease out and stops the container as the sweep does.
func expire(ctx context.Context, s *Service, user, name string) error {
	if err := s.SetLease(ctx, user, name, time.Now().Add(-time.Second)); err != nil {
		return err
	}
	return s.AutoStop(ctx, ref.Ref{Owner: user, Name: name}, ReasonExpired)
}

func gpuService(t *testing.T) (*Service, *lxdtest.Fake) {
	t.Helper()
	s, fake, _ := newService(t)
	fake.HostGPUs = []lxd.GPU{gpu0}
	s.conf().Quota.Containers = 4
	s.conf().Quota.Snapshots = 8
	s.conf().SnapshotKeep = 5
	return s, fake
}

// Scenario (issue 19, item 1): with exclusive GPUs, alice (GPU quota 1)
// takes GPU 0, snapshots and clones; LXD's copy keeps the source's GPU
// device, so every clone had GPU 0 while her use stayed 1, and deleting
// the source handed GPU 0 to bob while her clone still used it.
func TestCloneDoesNotInheritExclusiveGPU(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "0", Start: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TakeSnapshot(ctx, "alice", "a", "s1", false); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b", "c"} {
		c, err := s.Clone(ctx, "alice", "a", "s1", n, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.GPUs) != 0 {
			t.Fatalf("clone %s booked GPUs %v", n, c.GPUs)
		}
		if got := instanceGPUs(t, fake, "alice", n); len(got) != 0 {
			t.Fatalf("clone %s carries GPU devices %v that nobody booked", n, got)
		}
	}
	if _, use, _ := s.Quota(ctx, "alice"); use.GPUs != 1 {
		t.Fatalf("alice's GPU use: %d", use.GPUs)
	}
	if err := s.Delete(ctx, "alice", "a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "x", GPU: "0", Start: true}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b", "c"} {
		if got := instanceGPUs(t, fake, "alice", n); len(got) != 0 {
			t.Fatalf("alice's clone %s shares bob's GPU: %v", n, got)
		}
	}
}

// A clone of a container holding the GPU profile (--gpu all) with
// exclusive GPUs gets neither the profile nor a device.
func TestCloneOfAllGPUsContainer(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "all"}); err != nil {
		t.Fatal(err)
	}
	s.TakeSnapshot(ctx, "alice", "a", "s1", false)
	if _, err := s.Clone(ctx, "alice", "a", "s1", "b", ""); err != nil {
		t.Fatal(err)
	}
	if got := instanceGPUs(t, fake, "alice", "b"); len(got) != 0 {
		t.Fatalf("clone of --gpu all carries %v", got)
	}
}

// With shared GPUs a clone asks for its source's GPUs through the quota
// like a launch: over the GPU quota it is refused and nothing is made.
func TestCloneSharedGPUCounts(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	s.conf().SharedGPUs = true
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "0"}); err != nil {
		t.Fatal(err)
	}
	s.TakeSnapshot(ctx, "alice", "a", "s1", false)
	if _, err := s.Clone(ctx, "alice", "a", "s1", "b", ""); !errors.Is(err, ErrQuota) {
		t.Fatalf("a clone past the GPU quota: %v", err)
	}
	if fake.Count() != 1 {
		t.Fatalf("instances after a refused clone: %d", fake.Count())
	}
	s.SetQuota(ctx, "alice", QuotaChange{GPUs: ptr(2)})
	c, err := s.Clone(ctx, "alice", "a", "s1", "b", "")
	if err != nil || !slices.Equal(c.GPUs, []string{"0000:01:00.0"}) {
		t.Fatalf("shared clone: %+v %v", c, err)
	}
	if got := instanceGPUs(t, fake, "alice", "b"); !slices.Equal(got, []string{"0000:01:00.0"}) {
		t.Fatalf("shared clone's devices: %v", got)
	}
}

// Scenario (issue 19, item 1): an expired container could be cloned, and
// the clone got a fresh lease, which defeats "expired GPUs go back".
func TestCloneOfExpiredRefused(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "0", Start: true, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s.TakeSnapshot(ctx, "alice", "a", "s1", false)
	if err := expire(ctx, s, "alice", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clone(ctx, "alice", "a", "s1", "b", ""); !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "lease of a ran out") {
		t.Fatalf("clone of an expired container: %v", err)
	}
	// A lease that ran out by the clock, before a sweep marked it.
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "c"}); err != nil {
		t.Fatal(err)
	}
	s.TakeSnapshot(ctx, "alice", "c", "s1", false)
	s.SetLease(ctx, "alice", "c", time.Now().Add(-time.Minute))
	if _, err := s.Clone(ctx, "alice", "c", "s1", "d", ""); !errors.Is(err, ErrExpired) {
		t.Fatalf("clone of a container past its lease: %v", err)
	}
	if fake.Count() != 2 {
		t.Fatalf("instances: %d", fake.Count())
	}
}

// Scenario: lease expiry gives the GPU back to the lab, so the expired
// container's device goes; a renew (nobody took the GPU) brings it back.
func TestExpiryAndRenewKeepDevicesToTheBooks(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "0", Start: true, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := expire(ctx, s, "alice", "a"); err != nil {
		t.Fatal(err)
	}
	if got := instanceGPUs(t, fake, "alice", "a"); len(got) != 0 {
		t.Fatalf("expired container keeps GPU devices %v", got)
	}
	if _, err := s.Renew(ctx, "alice", "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := instanceGPUs(t, fake, "alice", "a"); !slices.Equal(got, []string{"0000:01:00.0"}) {
		t.Fatalf("renewed container's GPU devices: %v", got)
	}
}

// Scenario: a snapshot taken while the container held GPU 0 restores GPU
// 0's device; the books (expired: no GPU) win.
func TestRestoreKeepsDevicesToTheBooks(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "0", Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s.TakeSnapshot(ctx, "alice", "a", "s1", false)
	if err := expire(ctx, s, "alice", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "x", GPU: "0", Start: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(ctx, "alice", "a", "s1"); err != nil {
		t.Fatal(err)
	}
	if got := instanceGPUs(t, fake, "alice", "a"); len(got) != 0 {
		t.Fatalf("restore brought back bob's GPU: %v", got)
	}
	// A device added by hand, snapshotted, is not brought back either.
	s.Create(ctx, "alice", CreateRequest{Name: "b", Start: true})
	fake.AddDevice("lxcgate-alice", "b", "card", map[string]string{"type": "gpu", "pci": "0000:01:00.0"})
	s.TakeSnapshot(ctx, "alice", "b", "s1", false)
	if err := s.Restore(ctx, "alice", "b", "s1"); err != nil {
		t.Fatal(err)
	}
	if got := instanceGPUs(t, fake, "alice", "b"); len(got) != 0 {
		t.Fatalf("restore kept an unbooked device: %v", got)
	}
	if c, _ := s.Get(ctx, "alice", "b"); c.State != "running" {
		t.Fatalf("restore did not start it again: %+v", c)
	}
}

// Scenario: a GPU device added behind the gateway's back (or left by an
// interrupted clone) is removed at the next reconcile, the container
// stopped first since it ran with it, with a log line and an audit row.
func TestReconcileRemovesUnbookedGPU(t *testing.T) {
	ctx := context.Background()
	s, fake := unbookedGPU(t)
	if err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	repaired(t, s, fake)
	if c, _ := s.Get(ctx, "bob", "x"); c.State != "running" {
		t.Fatalf("bob's container: %s", c.State)
	}
	evs, err := s.st.Audit.Recent(ctx, s.db, 10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || (e.User == "alice" && e.Kind == "auto" && strings.Contains(e.Detail, "a:") && strings.Contains(e.Detail, "0000:01:00.0"))
	}
	if !found {
		t.Fatalf("no audit row for the repair: %+v", evs)
	}
	// A second pass finds nothing to do.
	n := len(fake.GPUWrites)
	if err := s.Reconcile(ctx); err != nil || len(fake.GPUWrites) != n {
		t.Fatalf("second pass: %v, writes %v", err, fake.GPUWrites)
	}
}

// Scenario: after a lost database two instances carry GPU 0; adoption
// books it for one only (exclusive GPUs), and the other's device goes.
func TestAdoptBooksExclusiveGPUOnce(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	for _, n := range []string{"a", "b"} {
		if _, err := s.Create(ctx, "alice", CreateRequest{Name: n, Start: true}); err != nil {
			t.Fatal(err)
		}
		fake.AddDevice("lxcgate-alice", n, "gpu-0000-01-00-0", map[string]string{"type": "gpu", "pci": "0000:01:00.0"})
	}
	db := storetest.Open(t)
	if _, err := users.New(db).Add(ctx, "alice", users.RoleUser, ""); err != nil {
		t.Fatal(err)
	}
	s2 := New(db, fake, *s.conf(), s.log)
	if err := s2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	var holders []string
	for _, n := range []string{"a", "b"} {
		c, err := s2.Get(ctx, "alice", n)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.GPUs) > 0 {
			holders = append(holders, n)
			if !slices.Equal(c.GPUs, []string{"0000:01:00.0"}) {
				t.Fatalf("adopted GPUs recorded as %v", c.GPUs)
			}
		} else if got := instanceGPUs(t, fake, "alice", n); len(got) != 0 {
			t.Fatalf("%s keeps a device it was not booked: %v", n, got)
		}
	}
	if len(holders) != 1 {
		t.Fatalf("GPU 0 booked for %v", holders)
	}
	if _, use, _ := s2.Quota(ctx, "alice"); use.GPUs != 1 {
		t.Fatalf("GPU use after adoption: %d", use.GPUs)
	}
}

// Scenario (issue 19, item 6): a sweep pass read the container past its
// lease, the user renewed, then the pass's stop came: the renew must win
// (no stop, no "expired" mark, no lost GPU).
func TestRenewDuringSweepWins(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "0", Start: true, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLease(ctx, "alice", "a", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	items, err := s.SweepItems(ctx) // the pass's read: past its lease
	if err != nil || len(items) != 1 || time.Now().Before(items[0].LeaseUntil) {
		t.Fatalf("items: %+v %v", items, err)
	}
	if _, err := s.Renew(ctx, "alice", "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.AutoStop(ctx, items[0].Ref, ReasonExpired); !errors.Is(err, ErrRenewed) {
		t.Fatalf("stop after a renew: %v", err)
	}
	c, _ := s.Get(ctx, "alice", "a")
	if c.State != "running" || c.Reason != "" {
		t.Fatalf("after the pass: %+v", c)
	}
	if got := instanceGPUs(t, fake, "alice", "a"); len(got) != 1 {
		t.Fatalf("GPU devices: %v", got)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "x", GPU: "0"}); !errors.Is(err, ErrGPUHeld) {
		t.Fatalf("bob took the renewed container's GPU: %v", err)
	}
	if _, err := s.Renew(ctx, "alice", "a", time.Hour); err != nil {
		t.Fatalf("the next renew: %v", err)
	}
}

// A copy whose inherited GPU device cannot be removed is not kept: it
// would carry a GPU it does not hold.
func TestCloneUndoneWhenDevicesCannotBeFitted(t *testing.T) {
	ctx := context.Background()
	s, fake := gpuService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "0"}); err != nil {
		t.Fatal(err)
	}
	s.TakeSnapshot(ctx, "alice", "a", "s1", false)
	fake.FailGPUs = errors.New("LXD refused")
	if _, err := s.Clone(ctx, "alice", "a", "s1", "b", ""); err == nil || !strings.Contains(err.Error(), "nothing was kept") {
		t.Fatalf("clone: %v", err)
	}
	if _, err := s.Get(ctx, "alice", "b"); !errors.Is(err, ErrNoSuch) || fake.Count() != 1 {
		t.Fatalf("the clone stayed: %v, %d instances", err, fake.Count())
	}
	if _, use, _ := s.Quota(ctx, "alice"); use.Containers != 1 {
		t.Fatalf("use after an undone clone: %+v", use)
	}
	// Restore: it stays stopped rather than run with a stale device.
	fake.FailGPUs = nil
	s.Create(ctx, "alice", CreateRequest{Name: "c", Start: true})
	fake.AddDevice("lxcgate-alice", "c", "card", map[string]string{"type": "gpu", "pci": "0000:01:00.0"})
	s.TakeSnapshot(ctx, "alice", "c", "s1", false)
	fake.FailGPUs = errors.New("LXD refused")
	if err := s.Restore(ctx, "alice", "c", "s1"); err == nil || !strings.Contains(err.Error(), "stays stopped") {
		t.Fatalf("restore: %v", err)
	}
	if c, _ := s.Get(ctx, "alice", "c"); c.State != "stopped" {
		t.Fatalf("restored with a stale device and started: %s", c.State)
	}
}

// Scenario: a container that holds no GPU but carries a device for one of
// its member's GPUs (added by hand) does not take it along to another
// member.
func TestMoveLeavesUnbookedGPUBehind(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", Host: "member1"}); err != nil {
		t.Fatal(err)
	}
	fake.AddDevice("lxcgate-alice", "a", "card", map[string]string{"type": "gpu", "pci": "0000:01:00.0"})
	if err := s.Move(ctx, "alice", "a", "member2"); err != nil {
		t.Fatal(err)
	}
	if got := instanceGPUs(t, fake, "alice", "a"); len(got) != 0 {
		t.Fatalf("moved with an unbooked GPU device: %v", got)
	}
}

// Scenario: an admin adds GPU 0 by hand to alice's running container while
// the gateway serves; the periodic check (not only a full reconcile)
// removes it, leaves a container busy with an operation to the next pass,
// and leaves bob's booked GPU alone.
func TestCheckGPUsBetweenReconciles(t *testing.T) {
	ctx := context.Background()
	s, fake := unbookedGPU(t)
	release := s.boxes.lock("alice/a")
	if err := s.CheckGPUs(ctx); err != nil {
		t.Fatal(err)
	}
	if got := instanceGPUs(t, fake, "alice", "a"); len(got) != 1 {
		t.Fatalf("a container held by an operation was changed: %v", got)
	}
	release()
	if err := s.CheckGPUs(ctx); err != nil {
		t.Fatal(err)
	}
	repaired(t, s, fake)
	n := len(fake.GPUWrites)
	if err := s.CheckGPUs(ctx); err != nil || len(fake.GPUWrites) != n {
		t.Fatalf("second pass: %v, writes %v", err, fake.GPUWrites)
	}
}

// unbookedGPU is alice's running container a with GPU 0 added by hand,
// beside bob's x, which holds GPU 0 by the books.
func unbookedGPU(t *testing.T) (*Service, *lxdtest.Fake) {
	t.Helper()
	ctx := context.Background()
	s, fake := gpuService(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", Start: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "x", GPU: "0", Start: true}); err != nil {
		t.Fatal(err)
	}
	fake.AddDevice("lxcgate-alice", "a", "gpu-0000-01-00-0", map[string]string{"type": "gpu", "pci": "0000:01:00.0"})
	return s, fake
}

// repaired checks unbookedGPU's state after a repair: a lost the device
// and was stopped, x kept its GPU and runs.
func repaired(t *testing.T, s *Service, fake *lxdtest.Fake) {
	t.Helper()
	ctx := context.Background()
	if got := instanceGPUs(t, fake, "alice", "a"); len(got) != 0 {
		t.Fatalf("unbooked device after the repair: %v", got)
	}
	if c, _ := s.Get(ctx, "alice", "a"); c.State != "stopped" {
		t.Fatalf("ran with an unbooked GPU, still %s", c.State)
	}
	if got := instanceGPUs(t, fake, "bob", "x"); !slices.Equal(got, []string{"0000:01:00.0"}) {
		t.Fatalf("bob's booked GPU: %v", got)
	}
}
