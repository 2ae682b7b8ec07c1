package containers

import (
	"context"
	"maps"
	"sync"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// Inventory is what the last full reconcile saw: the gateway's containers
// by LXD status ("Running", "Stopped", ...) and how many host GPUs they
// hold. It is cached so that monitoring never scans LXD itself.
type Inventory struct {
	ByStatus map[string]int
	GPUs     int
}

// inventory is the cache behind Service.Inventory.
type inventory struct {
	mu   sync.Mutex
	last Inventory
}

// Inventory returns a copy of what the last full reconcile saw.
func (s *Service) Inventory() Inventory {
	s.inv.mu.Lock()
	defer s.inv.mu.Unlock()
	return Inventory{ByStatus: maps.Clone(s.inv.last.ByStatus), GPUs: s.inv.last.GPUs}
}

// noteInventory counts ins (every LXD container) and the GPUs held by rs
// (every row). Host GPUs are asked of LXD only when some row holds one.
func (s *Service) noteInventory(ctx context.Context, rs []row, ins []lxd.Instance) {
	inv := Inventory{ByStatus: map[string]int{}}
	for _, in := range ins {
		if _, ok := s.owner(in.Project); ok {
			inv.ByStatus[in.Status]++
		}
	}
	gpus := 0
	if holdsGPU(rs) {
		gpus = -1 // unknown: the last count stands
		if host, err := s.allGPUs(ctx); err == nil {
			if held, err := s.held(ctx, s.db, host); err == nil {
				gpus = len(held)
			}
		}
	}
	s.inv.mu.Lock()
	defer s.inv.mu.Unlock()
	inv.GPUs = s.inv.last.GPUs
	if gpus >= 0 {
		inv.GPUs = gpus
	}
	s.inv.last = inv
}

func holdsGPU(rs []row) bool {
	for _, r := range rs {
		if r.GPUs != "" {
			return true
		}
	}
	return false
}
