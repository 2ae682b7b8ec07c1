package containers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
)

// GPUs are recorded by resolved PCI address ("all" for the GPU profile),
// whatever form the user typed (id, UUID, full or short PCI address), so
// that holdings compare exactly and a GPU is given to one container at a
// time unless [gpu] shared is set.

// findGPU resolves one token as 'gpus' lists GPUs: DRM id, UUID, or PCI
// address in full ("0000:01:00.0") or short ("01:00.0") form.
func findGPU(host []lxd.GPU, tok string) *lxd.GPU {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil
	}
	for i, g := range host {
		if tok == g.ID || strings.EqualFold(tok, g.UUID) || strings.EqualFold(tok, g.PCI) ||
			(g.PCI != "" && strings.EqualFold("0000:"+tok, g.PCI)) {
			return &host[i]
		}
	}
	return nil
}

// gpuKey is how a GPU is recorded: its PCI address, else its id.
func gpuKey(g lxd.GPU) string {
	if g.PCI != "" {
		return strings.ToLower(g.PCI)
	}
	return g.ID
}

// pickGPUs resolves --gpu against the host's GPUs before anything exists
// and fills in the spec; it returns what to record, the host's GPUs and
// how many GPUs the container takes.
func (s *Service) pickGPUs(ctx context.Context, want string, spec *lxd.Spec) ([]string, []lxd.GPU, int, error) {
	if want == "" {
		return nil, nil, 0, nil
	}
	host, err := s.lxd.GPUs(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(host) == 0 {
		return nil, nil, 0, errors.New("this host has no GPUs; create the container without --gpu")
	}
	if want == "all" {
		spec.Profiles = append(spec.Profiles, s.conf().GPU.Name)
		return []string{"all"}, host, len(host), nil
	}
	spec.GPUs = map[string]string{}
	var keys []string
	for _, tok := range strings.Split(want, ",") {
		g := findGPU(host, tok)
		if g == nil {
			return nil, nil, 0, errorf(ErrNoGPU, "", "no GPU %q on this host", strings.TrimSpace(tok))
		}
		dev := "gpu-" + strings.NewReplacer(":", "-", ".", "-").Replace(g.PCI)
		if g.PCI == "" {
			dev = "gpu" + g.ID
		}
		if _, dup := spec.GPUs[dev]; dup {
			return nil, nil, 0, fmt.Errorf("GPU %q is listed twice", strings.TrimSpace(tok))
		}
		spec.GPUs[dev] = g.ID
		if g.PCI != "" {
			spec.GPUs[dev] = g.PCI
		}
		keys = append(keys, gpuKey(*g))
	}
	return keys, host, len(keys), nil
}

// held returns, by GPU key, the containers ("owner/name") that hold each
// GPU; rows recorded before GPUs were stored resolved are resolved here.
func (s *Service) held(ctx context.Context, q store.Querier, host []lxd.GPU) (map[string][]string, error) {
	rs, err := s.st.Containers.List(ctx, q, "")
	if err != nil {
		return nil, fmt.Errorf("GPU holders: %w", err)
	}
	out := map[string][]string{}
	for _, r := range rs {
		if r.GPUs == "" || r.State == store.StateDeleting {
			continue
		}
		for _, tok := range strings.Split(r.GPUs, ",") {
			if strings.TrimSpace(tok) == "all" {
				for _, g := range host {
					out[gpuKey(g)] = append(out[gpuKey(g)], r.Owner+"/"+r.Name)
				}
			} else if g := findGPU(host, tok); g != nil {
				out[gpuKey(*g)] = append(out[gpuKey(*g)], r.Owner+"/"+r.Name)
			}
		}
	}
	return out, nil
}

// gpusFree refuses GPUs (recorded form) that another container holds. It
// runs in the reservation's transaction, so that the check and the insert
// are one step for every session.
func (s *Service) gpusFree(ctx context.Context, q store.Querier, host []lxd.GPU, want string) error {
	held, err := s.held(ctx, q, host)
	if err != nil {
		return err
	}
	for _, g := range host {
		k := gpuKey(g)
		if len(held[k]) > 0 && (want == "all" || strings.Contains(","+want+",", ","+k+",")) {
			return errorf(ErrGPUHeld, "", "GPU %s is held by another container", k)
		}
	}
	return nil
}

// GPUInfo is a host GPU and the containers that hold it.
type GPUInfo struct {
	lxd.GPU
	Holders []string `json:"holders"`
}

// GPUs lists the host's GPUs and who holds each ("all" holders hold every one).
func (s *Service) GPUs(ctx context.Context) ([]GPUInfo, error) {
	host, err := s.lxd.GPUs(ctx)
	if err != nil {
		return nil, err
	}
	held, err := s.held(ctx, s.db, host)
	if err != nil {
		return nil, err
	}
	out := make([]GPUInfo, 0, len(host))
	for _, g := range host {
		h := held[gpuKey(g)]
		if h == nil {
			h = []string{}
		}
		out = append(out, GPUInfo{GPU: g, Holders: h})
	}
	return out, nil
}
