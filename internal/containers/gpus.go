package containers

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/nvsmi"
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
		t := tok
		if g.Host != "" {
			t = strings.TrimPrefix(tok, g.Host+"/") // a member's GPU, named with or without it
		}
		if t == g.ID || strings.EqualFold(t, g.UUID) || strings.EqualFold(t, g.PCI) ||
			(g.PCI != "" && strings.EqualFold("0000:"+t, g.PCI)) {
			return &host[i]
		}
	}
	return nil
}

// gpuKey is how a GPU is recorded: its PCI address, else its id; in a
// cluster prefixed by its member ("member3/0000:01:00.0").
func gpuKey(g lxd.GPU) string {
	if g.MIG != "" {
		return g.UUID // a MIG device: its UUID, the same whatever the parent's state
	}
	k := g.ID
	if g.PCI != "" {
		k = strings.ToLower(g.PCI)
	}
	if g.Host != "" {
		return g.Host + "/" + k
	}
	return k
}

// allKey is the recorded form of --gpu all: on a single host "all", in a
// cluster "MEMBER/all".
func allKey(member string) string {
	if member == "" {
		return "all"
	}
	return member + "/all"
}

// pickGPUs resolves --gpu against the GPUs of the host (or the chosen
// cluster member) before anything exists and fills in the spec; it
// returns what to record and how many GPUs the container takes. Simulated
// GPUs are recorded and counted, and get no device.
func (s *Service) pickGPUs(want string, host []lxd.GPU, member string, spec *lxd.Spec) ([]string, int, error) {
	if want == "" {
		return nil, 0, nil
	}
	where := "this host"
	if member != "" {
		where = member
	}
	if len(host) == 0 {
		return nil, 0, fmt.Errorf("%s has no GPUs; create the container without --gpu", where)
	}
	if want == "all" {
		if !host[0].Simulated {
			spec.Profiles = append(spec.Profiles, s.conf().GPU.Name)
		}
		return []string{allKey(member)}, len(host), nil
	}
	spec.GPUs = map[string]string{}
	var keys []string
	for _, tok := range strings.Split(want, ",") {
		g := findGPU(host, tok)
		if g == nil {
			return nil, 0, errorf(ErrNoGPU, "", "no GPU %q on %s", strings.TrimSpace(tok), where)
		}
		k := gpuKey(*g)
		if slices.Contains(keys, k) {
			return nil, 0, fmt.Errorf("GPU %q is listed twice", strings.TrimSpace(tok))
		}
		keys = append(keys, k)
		if g.Simulated {
			continue
		}
		dev, id := gpuDevice(*g)
		spec.GPUs[dev] = id
	}
	return keys, len(keys), nil
}

// maxGPUs bounds --gpus: more than any host has, and a typo's 1000 is
// refused at once.
const maxGPUs = 64

// checkGPUCount checks --gpus against --gpu.
func checkGPUCount(req CreateRequest) error {
	switch {
	case req.GPUs == 0:
		return nil
	case req.GPU != "":
		return errorf(ErrNoGPU, "", "--gpu names GPUs and --gpus counts them: give one of the two")
	case req.GPUs < 0 || req.GPUs > maxGPUs:
		return errorf(ErrNoGPU, "", "--gpus %d: ask for 1 to %d GPUs", req.GPUs, maxGPUs)
	}
	return nil
}

// anyGPUs picks n GPUs of host (the chosen member's) that nobody holds,
// in the host's order, as the comma list --gpu takes. With shared GPUs,
// those held by the fewest containers.
func (s *Service) anyGPUs(ctx context.Context, n int, host []lxd.GPU, member string) (string, error) {
	where := "this host"
	if member != "" {
		where = member
	}
	if len(host) == 0 {
		return "", fmt.Errorf("%s has no GPUs; create the container without --gpus", where)
	}
	if n > len(host) {
		return "", errorf(ErrNoGPU, "", "--gpus %d: %s has %d GPUs", n, where, len(host))
	}
	held, err := s.held(ctx, s.db, host)
	if err != nil {
		return "", err
	}
	order := slices.Clone(host)
	slices.SortStableFunc(order, func(a, b lxd.GPU) int { return len(held[gpuKey(a)]) - len(held[gpuKey(b)]) })
	var keys []string
	for _, g := range order {
		if len(keys) == n || (len(held[gpuKey(g)]) > 0 && !s.conf().SharedGPUs) {
			break
		}
		keys = append(keys, gpuKey(g))
	}
	if len(keys) < n {
		return "", errorf(ErrGPUHeld, "", "%d GPUs asked, %d free on %s now; see 'gpus'", n, len(keys), where)
	}
	return strings.Join(keys, ","), nil
}

// gpuDevice names the device that passes one GPU, and what it names it by.
func gpuDevice(g lxd.GPU) (dev, id string) {
	if g.MIG != "" {
		u := strings.ToLower(strings.TrimPrefix(g.UUID, "MIG-"))
		return "gpu-mig-" + u[:min(len(u), 13)], lxd.MIGDeviceID(g.UUID, g.Parent)
	}
	if g.PCI == "" {
		return "gpu" + g.ID, g.ID
	}
	return "gpu-" + strings.NewReplacer(":", "-", ".", "-").Replace(g.PCI), g.PCI
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
		if r.GPUs == "" || r.State == store.StateDeleting || r.StopReason == ReasonExpired {
			continue // an expired container's GPUs went back to the lab
		}
		for _, tok := range strings.Split(r.GPUs, ",") {
			tok = strings.TrimSpace(tok)
			if member, isAll := strings.CutSuffix(tok, "all"); isAll && (member == "" || strings.HasSuffix(member, "/")) {
				for _, g := range host {
					if member == "" || g.Host+"/" == member {
						out[gpuKey(g)] = append(out[gpuKey(g)], r.Owner+"/"+r.Name)
					}
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
		if len(held[k]) > 0 && (want == allKey(g.Host) || strings.Contains(","+want+",", ","+k+",")) {
			return errorf(ErrGPUHeld, "", "GPU %s is held by another container", k)
		}
	}
	return nil
}

// GPUInfo is a host GPU and the containers that hold it.
type GPUInfo struct {
	lxd.GPU
	Holders []string `json:"holders"`
	Stat    *GPUStat `json:"-"` // nil where nvidia-smi does not tell
}

// GPUStat is what nvidia-smi tells of one of the host's own GPUs.
type GPUStat struct {
	Util              float64 // percent; -1 unknown (MIG)
	MemUsed, MemTotal int64
}

// SetGPUStats lets 'gpus' show each local GPU's use, keyed by PCI address.
func (s *Service) SetGPUStats(f func(ctx context.Context) (map[string]GPUStat, error)) {
	s.gpuStats = f
}

// GPUs lists the host's GPUs and who holds each ("all" holders hold every one).
func (s *Service) GPUs(ctx context.Context) ([]GPUInfo, error) {
	host, err := s.allGPUs(ctx)
	if err != nil {
		return nil, err
	}
	held, err := s.held(ctx, s.db, host)
	if err != nil {
		return nil, err
	}
	var stats map[string]GPUStat
	if s.gpuStats != nil {
		if stats, err = s.gpuStats(ctx); err != nil {
			s.log.Warn("GPU use unknown", "err", err)
		}
	}
	out := make([]GPUInfo, 0, len(host))
	for _, g := range host {
		h := held[gpuKey(g)]
		if h == nil {
			h = []string{}
		}
		info := GPUInfo{GPU: g, Holders: h}
		if st, ok := stats[strings.ToLower(g.PCI)]; ok && g.Host == "" && g.PCI != "" {
			info.Stat = &st
		}
		out = append(out, info)
	}
	return out, nil
}

// allGPUs are the host's GPUs, or in a cluster every member's, named by
// member. A member that does not answer shows its simulated GPUs only.
func (s *Service) allGPUs(ctx context.Context) ([]lxd.GPU, error) {
	ms, err := s.lxd.Members(ctx)
	if err != nil || ms == nil {
		if err != nil {
			return nil, err
		}
		return s.hostGPUs(ctx)
	}
	var out []lxd.GPU
	for _, m := range ms {
		var res lxd.Resources
		if m.Online && m.SimGPUs < 0 {
			if res, err = s.lxd.MemberResources(ctx, m.Name); err != nil {
				s.log.Warn("GPUs of a member unknown", "member", m.Name, "err", err)
				continue
			}
		}
		out = append(out, memberGPUs(m, res)...)
	}
	return out, nil
}

// SetMIG lets [gpu] mig split GPUs into their MIG devices: f lists each
// GPU's by its PCI address (nvidia-smi -L).
func (s *Service) SetMIG(f func(ctx context.Context) (map[string][]nvsmi.MIG, error)) { s.migs = f }

// hostGPUs are the single host's GPUs as containers get them: with [gpu]
// mig, a GPU split into MIG devices is those devices (each allocatable
// alone, given as an LXD mig device), the others whole.
func (s *Service) hostGPUs(ctx context.Context) ([]lxd.GPU, error) {
	gs, err := s.lxd.GPUs(ctx)
	if err != nil || !s.conf().MIG || s.migs == nil {
		return gs, err
	}
	migs, err := s.migs(ctx)
	if err != nil {
		s.log.Warn("MIG devices unknown; GPUs are offered whole", "err", err)
		return gs, nil
	}
	var out []lxd.GPU
	for _, g := range gs {
		ms := migs[strings.ToLower(g.PCI)]
		if len(ms) == 0 {
			out = append(out, g)
			continue
		}
		for _, m := range ms {
			out = append(out, lxd.GPU{ID: g.ID + "/" + m.Profile + "/" + m.UUID, Vendor: g.Vendor, Model: g.Model + " MIG " + m.Profile,
				UUID: m.UUID, MIG: m.Profile, Parent: g.PCI})
		}
	}
	return out, nil
}

var migProfileRE = regexp.MustCompile(`^\d+g\.\d+gb$`)

// migProfiles turns the MIG profiles in a --gpu list ("1g.18gb") into
// free MIG devices of that profile; the rest stays as given.
func (s *Service) migProfiles(ctx context.Context, want string, host []lxd.GPU) (string, error) {
	toks := strings.Split(want, ",")
	var held map[string][]string
	taken := map[string]bool{}
	for i, tok := range toks {
		tok = strings.TrimSpace(tok)
		if !migProfileRE.MatchString(tok) {
			continue
		}
		if held == nil {
			var err error
			if held, err = s.held(ctx, s.db, host); err != nil {
				return "", err
			}
		}
		found := false
		for _, g := range host {
			k := gpuKey(g)
			if g.MIG == tok && !taken[k] && (len(held[k]) == 0 || s.conf().SharedGPUs) {
				toks[i], taken[k], found = g.UUID, true, true
				break
			}
		}
		if !found {
			return "", errorf(ErrGPUHeld, "", "no free MIG device of profile %s; see 'gpus'", tok)
		}
	}
	return strings.Join(toks, ","), nil
}
