package containers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
)

func TestSnapshots(t *testing.T) {
	ctx := context.Background()
	s, fake := newPortService(t, 39200, 39299)
	s.conf().SnapshotKeep = 3
	s.conf().Quota.Snapshots = 8
	s.conf().Quota.Containers = 4
	s.Create(ctx, "alice", CreateRequest{Name: "box", Start: true})
	s.Create(ctx, "alice", CreateRequest{Name: "other"})
	s.TakeSnapshot(ctx, "alice", "other", "o1", false)
	checkPruning(ctx, t, s)
	checkSnapshotRefusals(ctx, t, s)
	checkRestoreAndClone(ctx, t, s, fake)
	// The snapshot quota counts every container's snapshots: 4 + 1 = 5 of 8.
	for i := 0; i < 3; i++ {
		s.TakeSnapshot(ctx, "alice", "other", fmt.Sprintf("o%d", i+2), true)
	}
	if _, _, err := s.TakeSnapshot(ctx, "alice", "other", "one-too-many", true); !errors.Is(err, ErrQuota) {
		t.Fatalf("snapshot quota: %v", err)
	}
}

// checkPruning takes a pinned snapshot and five more in box: the oldest
// unpinned ones go beyond SnapshotKeep, other containers' stay.
func checkPruning(ctx context.Context, t *testing.T, s *Service) {
	t.Helper()
	if _, _, err := s.TakeSnapshot(ctx, "alice", "box", "pinned", true); err != nil {
		t.Fatal(err)
	}
	var lastPruned []string
	for i := 1; i <= 5; i++ {
		_, pruned, err := s.TakeSnapshot(ctx, "alice", "box", fmt.Sprintf("s%d", i), false)
		if err != nil {
			t.Fatal(err)
		}
		lastPruned = pruned
	}
	list, _ := s.Snapshots(ctx, "alice", "box")
	var names []string
	for _, si := range list {
		names = append(names, si.Name)
	}
	if strings.Join(names, ",") != "pinned,s3,s4,s5" || !list[0].Pinned || strings.Join(lastPruned, ",") != "s2" {
		t.Fatalf("after pruning: %v (pruned last %v)", names, lastPruned)
	}
	if other, _ := s.Snapshots(ctx, "alice", "other"); len(other) != 1 {
		t.Fatalf("another container's snapshots were touched: %+v", other)
	}
}

func checkSnapshotRefusals(ctx context.Context, t *testing.T, s *Service) {
	t.Helper()
	for _, tc := range []struct {
		f    func() error
		want string
	}{
		{func() error { _, _, err := s.TakeSnapshot(ctx, "alice", "box", "bad/name", false); return err }, "snapshot name"},
		{func() error { _, _, err := s.TakeSnapshot(ctx, "alice", "box", "s5", false); return err }, "already has a snapshot"},
		{func() error { _, _, err := s.TakeSnapshot(ctx, "bob", "box", "x", false); return err }, "no such container"},
		{func() error { return s.Restore(ctx, "alice", "box", "nope") }, `no snapshot "nope"`},
		{func() error { return s.Restore(ctx, "bob", "box", "s5") }, "no such container"},
		{func() error { _, err := s.Clone(ctx, "bob", "box", "s5", "copy", ""); return err }, "no such container"},
		{func() error { return s.AutoSnap(ctx, "alice", "box", "weekly", "") }, "use daily, hourly or off"},
		{func() error { return s.AutoSnap(ctx, "alice", "box", "daily", "soon") }, "write it like 7d"},
	} {
		if err := tc.f(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}

func checkRestoreAndClone(ctx context.Context, t *testing.T, s *Service, fake *lxdtest.Fake) {
	t.Helper()
	// Restore stops a running container and starts it again; ports stay.
	before, _ := s.Get(ctx, "alice", "box")
	if err := s.Restore(ctx, "alice", "box", "s4"); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Get(ctx, "alice", "box")
	if after.State != "running" || fmt.Sprint(after.Ports) != fmt.Sprint(before.Ports) {
		t.Fatalf("after restore: %+v", after)
	}
	// A restore while another operation holds the container is refused.
	release := s.boxes.lock("alice/box")
	if err := s.Restore(ctx, "alice", "box", "s4"); !errors.Is(err, ErrBusy) {
		t.Fatalf("busy: %v", err)
	}
	release()
	// Clone: a new container with ports of its own.
	c, err := s.Clone(ctx, "alice", "box", "s5", "copy", "")
	if err != nil || len(c.Ports) != 2 || c.Ports[0].HostPort == before.Ports[0].HostPort {
		t.Fatalf("clone: %+v %v", c, err)
	}
	if in := fake.Instances["lxcgate-alice/copy"]; in == nil {
		t.Fatal("clone not in LXD")
	}
}
