package portmap

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Monitoring sees the rule count, each full reconcile, and whether the
// chains are known to be in step.
func TestRulesSyncedAndOnSync(t *testing.T) {
	ctx := context.Background()
	m, b, src := newMapper()
	var syncs int
	m.OnSync(func(time.Duration, error) { syncs++ })
	if !errors.Is(m.Synced(), errNotSynced) {
		t.Fatalf("before any sync: %v", m.Synced())
	}
	src.set(dev, web)
	if _, err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Rules() != 2 || m.Synced() != nil || syncs != 1 {
		t.Fatalf("after sync: rules %d, synced %v, syncs %d", m.Rules(), m.Synced(), syncs)
	}
	// A failed update leaves the chains unknown until the next full sync.
	src.set(dev)
	b.fail = errors.New("iptables-restore: exit 1")
	if _, err := m.SyncOne(ctx, web.Ref()); err == nil {
		t.Fatal("SyncOne succeeded with a failing backend")
	}
	if m.Synced() == nil || m.Rules() != 2 {
		t.Fatalf("after a failed update: rules %d, synced %v", m.Rules(), m.Synced())
	}
	b.fail = nil
	if _, err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Rules() != 1 || m.Synced() != nil || syncs != 2 {
		t.Fatalf("after repair: rules %d, synced %v, syncs %d", m.Rules(), m.Synced(), syncs)
	}
}
