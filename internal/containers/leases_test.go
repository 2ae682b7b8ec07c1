package containers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/ref"
)

func TestLeases(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	s.conf().LeaseMax = 48 * time.Hour
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "big", Lease: 72 * time.Hour}); err == nil || !strings.Contains(err.Error(), "at most 2d") {
		t.Fatalf("a lease over the cap: %v", err)
	}
	c, err := s.Create(ctx, "alice", CreateRequest{Name: "box", Start: true, Lease: time.Hour})
	if err != nil || c.Expires == nil || time.Until(*c.Expires) > time.Hour || time.Until(*c.Expires) < 59*time.Minute {
		t.Fatalf("lease: %+v %v", c, err)
	}
	// Without --lease, a cap and no default: the cap.
	c2, err := s.Create(ctx, "alice", CreateRequest{Name: "capped"})
	if err != nil || c2.Expires == nil || time.Until(*c2.Expires) < 47*time.Hour {
		t.Fatalf("default to the cap: %+v %v", c2, err)
	}
	s.SetLease(ctx, "alice", "box", time.Now().Add(-time.Second)) // ran out: an expired stop re-reads the lease
	if err := s.AutoStop(ctx, ref.Ref{Owner: "alice", Name: "box"}, ReasonExpired); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "alice", "box")
	if got.State != "stopped" || got.Reason != ReasonExpired {
		t.Fatalf("after expiry: %+v", got)
	}
	if err := s.Start(ctx, "alice", "box"); !errors.Is(err, ErrExpired) {
		t.Fatalf("start of an expired container: %v", err)
	}
	if _, err := s.Renew(ctx, "bob", "box", time.Hour); !errors.Is(err, ErrNoSuch) {
		t.Fatalf("bob renews alice's: %v", err)
	}
	if _, err := s.Renew(ctx, "alice", "box", 49*time.Hour); err == nil {
		t.Fatal("renewed past the cap")
	}
	until, err := s.Renew(ctx, "alice", "box", 2*time.Hour)
	if err != nil || time.Until(until) < 119*time.Minute {
		t.Fatalf("renew: %v %v", until, err)
	}
	if err := s.Start(ctx, "alice", "box"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "alice", "box"); got.State != "running" || got.Reason != "" {
		t.Fatalf("started again: %+v", got)
	}
	if err := s.SetLease(ctx, "alice", "box", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "alice", "box"); got.Expires != nil {
		t.Fatalf("lease none: %+v", got)
	}
}

// An expired container's GPU goes back to the lab: another launch takes
// it, and the expired one may not be renewed onto it.
func TestExpiredGPUGoesBack(t *testing.T) {
	ctx := context.Background()
	s, fake, _ := newService(t)
	fake.HostGPUs = []lxd.GPU{{ID: "0", PCI: "0000:01:00.0", Model: "H100"}}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", GPU: "0", Start: true, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "b", GPU: "0"}); !errors.Is(err, ErrGPUHeld) {
		t.Fatalf("held GPU: %v", err)
	}
	s.SetLease(ctx, "alice", "a", time.Now().Add(-time.Second))
	if err := s.AutoStop(ctx, ref.Ref{Owner: "alice", Name: "a"}, ReasonExpired); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "b", GPU: "0"}); err != nil {
		t.Fatalf("the expired container's GPU: %v", err)
	}
	if _, err := s.Renew(ctx, "alice", "a", time.Hour); !errors.Is(err, ErrGPUHeld) || !strings.Contains(err.Error(), "bob/b") {
		t.Fatalf("renew onto a GPU taken meanwhile: %v", err)
	}
}

func TestNotices(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	login := time.Now().Add(-time.Minute)
	s.Create(ctx, "alice", CreateRequest{Name: "soon", Start: true, Lease: time.Hour})
	s.Create(ctx, "alice", CreateRequest{Name: "idle", Start: true})
	s.AutoStop(ctx, ref.Ref{Owner: "alice", Name: "idle"}, ReasonIdle)
	ns, err := s.Notices(ctx, "alice", login, 24*time.Hour)
	if err != nil || len(ns) != 2 {
		t.Fatalf("notices: %+v %v", ns, err)
	}
	if ns, _ := s.Notices(ctx, "alice", time.Now().Add(time.Minute), time.Minute); len(ns) != 0 {
		t.Fatalf("nothing new since a later login: %+v", ns)
	}
	if ns, _ := s.Notices(ctx, "bob", time.Time{}, 24*time.Hour); len(ns) != 0 {
		t.Fatalf("bob sees alice's: %+v", ns)
	}
}
