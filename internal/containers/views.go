package containers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// The shapes every front end writes: the shell's --json and the web API
// marshal these, so that a key is named in one place.

// InUTC returns c with its times in UTC, as every output writes them.
func (c Container) InUTC() Container {
	c.Created = c.Created.UTC()
	return c
}

// Reach is a ready command or URL for a published port on the host public.
func (p Port) Reach(public string) string {
	switch {
	case p.Web:
		return p.URL
	case p.ContainerPort == 22 || p.Service == "ssh":
		return fmt.Sprintf("ssh -p %d ubuntu@%s", p.HostPort, public)
	case p.Service == "https" || p.ContainerPort == 443:
		return fmt.Sprintf("https://%s:%d/", public, p.HostPort)
	default:
		return fmt.Sprintf("http://%s:%d/", public, p.HostPort)
	}
}

// GPUView is one GPU as a user sees it.
type GPUView struct {
	ID      string   `json:"id"` // as --gpu takes it: member/id in a cluster
	Vendor  string   `json:"vendor"`
	Model   string   `json:"model"`
	PCI     string   `json:"pci"`
	UUID    string   `json:"uuid"`
	Holders []string `json:"holders"`
	Host    string   `json:"host,omitempty"` // its cluster member
	// Where nvidia-smi runs: utilisation (percent) and memory (bytes).
	Util     *float64 `json:"utilization,omitempty"`
	MemUsed  int64    `json:"memory_used,omitempty"`
	MemTotal int64    `json:"memory_total,omitempty"`
}

// AnotherUser stands for a holder the viewer may not see.
const AnotherUser = "(another user)"

// ViewGPUs is gs as viewer sees them: others see that a GPU is taken, not
// by whom; admins see every holder.
func ViewGPUs(gs []GPUInfo, viewer string, admin bool) []GPUView {
	out := []GPUView{}
	for _, g := range gs {
		holders := []string{}
		for _, h := range g.Holders {
			if !admin && !strings.HasPrefix(h, viewer+"/") {
				h = AnotherUser
			}
			holders = append(holders, h)
		}
		id := g.ID
		if g.Host != "" {
			id = g.Host + "/" + g.ID
		}
		v := GPUView{ID: id, Vendor: g.Vendor, Model: g.Model, PCI: g.PCI, UUID: g.UUID, Holders: holders, Host: g.Host}
		if g.Stat != nil {
			if g.Stat.Util >= 0 {
				u := g.Stat.Util
				v.Util = &u
			}
			v.MemUsed, v.MemTotal = g.Stat.MemUsed, g.Stat.MemTotal
		}
		out = append(out, v)
	}
	return out
}

// QuotaView is a user's quota beside their use.
type QuotaView struct {
	User  string `json:"user"`
	Quota Quota  `json:"quota"`
	Usage Usage  `json:"usage"`
}

// GPUSpan is a container holding a GPU over a span of time; Until is zero
// while it still holds it.
type GPUSpan = store.GPUAssignment

// GPUHistory returns the GPU assignments open at some time since from.
func (s *Service) GPUHistory(ctx context.Context, from time.Time) ([]GPUSpan, error) {
	spans, err := s.st.GPUHistory.Since(ctx, s.db, from)
	if err != nil {
		return nil, fmt.Errorf("gpu history: %w", err)
	}
	return spans, nil
}

// GPUMembers names the cluster members whose GPUs the recorded keys hold
// ("member3/0000:01:00.0", "member3/all"), once each; none on a single
// host. The gateway's own nvidia-smi sees only the host it runs on, so
// these GPUs' activity is unknown to it: idle stops weigh CPU and
// connections alone, and details says so.
func GPUMembers(keys []string) []string {
	var out []string
	for _, k := range keys {
		if m, _, ok := strings.Cut(k, "/"); ok && m != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// recordGPUs notes that a new container holds its GPUs (resolved keys);
// the record feeds a chart, so a failure is logged, never returned.
func (s *Service) recordGPUs(ctx context.Context, user, name, gpus string) {
	if gpus == "" {
		return
	}
	if err := s.st.GPUHistory.Open(context.WithoutCancel(ctx), s.db, user, name, strings.Split(gpus, ","), time.Now()); err != nil {
		s.log.Warn("recording GPU assignment failed", "user", user, "name", name, "err", err)
	}
}

// releaseGPUs closes the GPU record of a deleted container.
func (s *Service) releaseGPUs(ctx context.Context, user, name string) {
	if err := s.st.GPUHistory.Close(context.WithoutCancel(ctx), s.db, user, name, time.Now()); err != nil {
		s.log.Warn("closing GPU assignment failed", "user", user, "name", name, "err", err)
	}
}
