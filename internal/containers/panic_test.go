package containers

import (
	"context"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
)

// panicky is the fake LXD with one method that panics, standing in for a
// bug or a container's data crashing the adapter (a directory where a file
// was expected once did).
type panicky struct {
	*lxdtest.Fake
	method string
}

func (p *panicky) boom(m string) {
	if p.method == m {
		panic("adapter panicked in " + m)
	}
}

func (p *panicky) Get(ctx context.Context, project, name string) (lxd.Instance, error) {
	p.boom("Get")
	return p.Fake.Get(ctx, project, name)
}

func (p *panicky) Start(ctx context.Context, project, name string) error {
	p.boom("Start")
	return p.Fake.Start(ctx, project, name)
}

func (p *panicky) Stop(ctx context.Context, project, name string, force bool) error {
	p.boom("Stop")
	return p.Fake.Stop(ctx, project, name, force)
}

func (p *panicky) Delete(ctx context.Context, project, name string, force bool) error {
	p.boom("Delete")
	return p.Fake.Delete(ctx, project, name, force)
}

func (p *panicky) ReadFile(ctx context.Context, project, name, path string) ([]byte, error) {
	p.boom("ReadFile")
	return p.Fake.ReadFile(ctx, project, name, path)
}

func (p *panicky) Exec(ctx context.Context, project, name string, argv []string, stdin []byte) (int, string, error) {
	p.boom("Exec")
	return p.Fake.Exec(ctx, project, name, argv, stdin)
}

func (p *panicky) Snapshot(ctx context.Context, project, name, snap string) error {
	p.boom("Snapshot")
	return p.Fake.Snapshot(ctx, project, name, snap)
}

func (p *panicky) Restore(ctx context.Context, project, name, snap string) error {
	p.boom("Restore")
	return p.Fake.Restore(ctx, project, name, snap)
}

func (p *panicky) SetConfig(ctx context.Context, project, name string, kv map[string]string) error {
	p.boom("SetConfig")
	return p.Fake.SetConfig(ctx, project, name, kv)
}

var (
	_ Access      = (*panicky)(nil)
	_ Snapshotter = (*panicky)(nil)
)

// Scenario: a command panics inside LXD's adapter while it holds the
// container. The panic reaches the caller (the shell turns it into an
// error), and no lock stays held: the next operation on the same container,
// and a reconcile, which waits for every operation, both finish.
func TestNoPanicLeavesALockHeld(t *testing.T) {
	for i, tc := range []struct {
		method string
		op     func(s *Service) error
	}{
		{"Get", func(s *Service) error { _, err := s.GenerateKey(ctx0, "alice", "dev", "ubuntu", ""); return err }},
		{"ReadFile", func(s *Service) error { _, err := s.GenerateKey(ctx0, "alice", "dev", "ubuntu", ""); return err }},
		{"ReadFile", func(s *Service) error { _, err := s.ContainerKeys(ctx0, "alice", "dev", "ubuntu"); return err }},
		{"Exec", func(s *Service) error { return s.SetPassword(ctx0, "alice", "dev", "ubuntu", "pw-pw-pw-pw") }},
		{"Stop", func(s *Service) error { return s.Stop(ctx0, "alice", "dev", false) }},
		{"Get", func(s *Service) error { return s.Delete(ctx0, "alice", "dev", true) }},
		{"Delete", func(s *Service) error { return s.Delete(ctx0, "alice", "dev", true) }},
		{"Snapshot", func(s *Service) error { _, _, err := s.TakeSnapshot(ctx0, "alice", "dev", "s1", false); return err }},
		{"Stop", func(s *Service) error { return s.Restore(ctx0, "alice", "dev", "s0") }},
		{"Restore", func(s *Service) error { return s.Restore(ctx0, "alice", "dev", "s0") }},
		{"SetConfig", func(s *Service) error { return s.AutoSnap(ctx0, "alice", "dev", "daily", "") }},
	} {
		s, fake, _ := newService(t)
		p := &panicky{Fake: fake}
		s.lxd = p
		s.conf().Quota.Snapshots = 5
		if _, err := s.Create(ctx0, "alice", CreateRequest{Name: "dev", Start: true}); err != nil {
			t.Fatal(err)
		}
		fake.Files = map[string][]byte{"lxcgate-alice/dev:/etc/passwd": []byte("ubuntu:x:1000:1000::/home/ubuntu:/bin/sh\n")}
		if _, _, err := s.TakeSnapshot(ctx0, "alice", "dev", "s0", true); err != nil {
			t.Fatal(err)
		}
		p.method = tc.method
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("case %d, %s: no panic reached the caller", i, tc.method)
				}
			}()
			if err := tc.op(s); err != nil {
				t.Logf("case %d: %v", i, err)
			}
		}()
		p.method = ""
		done := make(chan error, 2)
		go func() { done <- s.Start(ctx0, "alice", "dev") }()
		go func() { done <- s.Reconcile(ctx0) }()
		for i := 0; i < 2; i++ {
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatalf("panic in %s left the container or the reconcile lock held", tc.method)
			}
		}
	}
}

var ctx0 = context.Background()
