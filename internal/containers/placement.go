package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Placement is where a new container goes, and why; empty on a single
// host.
type Placement struct {
	Host   string `json:"host"`
	Reason string `json:"reason"`

	member lxd.Member
	gpus   []lxd.GPU // the member's (or the host's) GPUs, when --gpu was given
}

// groupRE is what a cluster group name may be.
var groupRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// checkGroup accepts "" (any member) or a cluster group some member is in.
func (s *Service) checkGroup(ctx context.Context, group string) error {
	if group == "" {
		return nil
	}
	if !groupRE.MatchString(group) {
		return fmt.Errorf("hosts %q: give a cluster group name, or all", group)
	}
	ms, err := s.lxd.Members(ctx)
	if err != nil {
		return fmt.Errorf("hosts %s: %w", group, err)
	}
	if ms == nil {
		return fmt.Errorf("hosts %s: LXD is not a cluster here", group)
	}
	for _, m := range ms {
		if slices.Contains(m.Groups, group) {
			return nil
		}
	}
	return fmt.Errorf("hosts %s: no cluster member is in that group (lxc cluster group list)", group)
}

// errOffline says a container's member does not answer.
func errOffline(member string) error {
	return fmt.Errorf("%w (%s offline); try again when it is back", ErrUnreachable, member)
}

// candidate is a member placement may choose, with what it weighs.
type candidate struct {
	m        lxd.Member
	res      lxd.Resources
	gpus     []lxd.GPU
	freeGPUs int
}

func (c candidate) freeMemory() uint64 {
	if c.res.MemoryUsed > c.res.MemoryTotal {
		return 0
	}
	return c.res.MemoryTotal - c.res.MemoryUsed
}

// place chooses the member for a new container: the one asked for
// (--host), else for GPUs the one with enough free, else the one with the
// most free memory, then CPUs; always within the user's cluster group
// and on the members its datasets are on.
// On a single host it only reads the host's GPUs when they are asked for.
func (s *Service) place(ctx context.Context, user string, req CreateRequest) (Placement, error) {
	ms, err := s.lxd.Members(ctx)
	if err != nil {
		return Placement{}, err
	}
	if ms == nil {
		if req.Host != "" {
			return Placement{}, errors.New("this gateway's LXD is not a cluster; leave out --host")
		}
		if req.GPU == "" && req.GPUs == 0 {
			return Placement{}, nil
		}
		host, err := s.hostGPUs(ctx)
		return Placement{gpus: host}, err
	}
	group, err := s.groupOf(ctx, user)
	if err != nil {
		return Placement{}, err
	}
	on, err := s.datasetPlaces(user, req, ms, group)
	if err != nil {
		return Placement{}, err
	}
	if req.Host != "" {
		p, err := s.placeOn(ctx, ms, req.Host, group)
		if req.hostFrom != "" {
			p.Reason = "where volume " + req.hostFrom + " lives"
		}
		return p, err
	}
	cands, err := s.candidates(ctx, on, group)
	if err != nil {
		return Placement{}, err
	}
	if req.GPUs > 0 {
		return chooseForGPUs(cands, req.GPUs)
	}
	if req.GPU != "" {
		return chooseForGPUs(cands, gpuDemand(req.GPU))
	}
	return s.byMemory(ctx, cands), nil
}

// memoryGrain is the difference in free memory placement treats as none:
// members whose free memory differs by less weigh their CPUs, then how
// many of the gateway's containers they hold.
const memoryGrain = 256 << 20

// byMemory takes the member with the most free memory, then CPUs, then
// the fewest containers (so that equal members fill evenly).
func (s *Service) byMemory(ctx context.Context, cands []candidate) Placement {
	held := map[string]int{}
	if ins, err := s.lxd.List(ctx, ""); err == nil {
		for _, in := range ins {
			if _, ok := s.owner(in.Project); ok {
				held[in.Location]++
			}
		}
	}
	grain := func(c candidate) uint64 { return c.freeMemory() / memoryGrain }
	best := cands[0]
	for _, c := range cands[1:] {
		switch {
		case grain(c) != grain(best):
			if grain(c) > grain(best) {
				best = c
			}
		case c.res.CPUs != best.res.CPUs:
			if c.res.CPUs > best.res.CPUs {
				best = c
			}
		case held[c.m.Name] < held[best.m.Name]:
			best = c
		}
	}
	return Placement{Host: best.m.Name, member: best.m, Reason: fmt.Sprintf("most free memory (%s free, %d CPUs, %d containers)",
		units.FormatApprox(int64(best.freeMemory())), best.res.CPUs, held[best.m.Name])}
}

// placeOn checks the member asked for.
func (s *Service) placeOn(ctx context.Context, ms []lxd.Member, host, group string) (Placement, error) {
	i := slices.IndexFunc(ms, func(m lxd.Member) bool { return m.Name == host })
	switch {
	case i < 0:
		return Placement{}, errorf(ErrNoHost, "", "no cluster member %q", host)
	case group != "" && !slices.Contains(ms[i].Groups, group):
		return Placement{}, errorf(ErrNoHost, "", "member %s is outside your cluster group %s", host, group)
	case !ms[i].Online:
		return Placement{}, fmt.Errorf("member %s is %s; choose another with --host", host, strings.ToLower(ms[i].Status))
	}
	c, err := s.weigh(ctx, ms[i])
	if err != nil {
		return Placement{}, err
	}
	return Placement{Host: host, Reason: "asked for", member: ms[i], gpus: c.gpus}, nil
}

// candidates weighs the online members of group (every one for "").
func (s *Service) candidates(ctx context.Context, ms []lxd.Member, group string) ([]candidate, error) {
	var out []candidate
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, m := range ms {
		if !m.Online || (group != "" && !slices.Contains(m.Groups, group)) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.weigh(ctx, m)
			if err != nil {
				s.log.Warn("placement: member skipped", "member", m.Name, "err", err)
				return
			}
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(out) == 0 {
		if group != "" {
			return nil, fmt.Errorf("no member of your cluster group %s is online; try again later", group)
		}
		return nil, errors.New("no cluster member is online; try again later")
	}
	slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.m.Name, b.m.Name) })
	return out, nil
}

// weigh reads one member's resources and its GPUs' holders.
func (s *Service) weigh(ctx context.Context, m lxd.Member) (candidate, error) {
	res, err := s.lxd.MemberResources(ctx, m.Name)
	if err != nil {
		return candidate{}, err
	}
	c := candidate{m: m, res: res, gpus: memberGPUs(m, res)}
	if len(c.gpus) == 0 {
		return c, nil // nothing to hold: no need to read every container's row
	}
	held, err := s.held(ctx, s.db, c.gpus)
	if err != nil {
		return candidate{}, err
	}
	for _, g := range c.gpus {
		if len(held[gpuKey(g)]) == 0 {
			c.freeGPUs++
		}
	}
	return c, nil
}

// memberGPUs are a member's GPUs, named by the member; its
// user.lxcgate.gpus, when set, stands in for them.
func memberGPUs(m lxd.Member, res lxd.Resources) []lxd.GPU {
	var out []lxd.GPU
	if m.SimGPUs >= 0 {
		for i := 0; i < m.SimGPUs; i++ {
			out = append(out, lxd.GPU{ID: fmt.Sprintf("sim%d", i), Vendor: "lxcgate", Model: "simulated GPU", Host: m.Name, Simulated: true})
		}
		return out
	}
	for _, g := range res.GPUs {
		g.Host = m.Name
		out = append(out, g)
	}
	return out
}

// gpuDemand is how many GPUs --gpu asks for; -1 for all of a member's.
func gpuDemand(want string) int {
	if want == "all" {
		return -1
	}
	return len(strings.Split(want, ","))
}

// chooseForGPUs takes the member with enough free GPUs, the most free
// first, then the most free memory.
func chooseForGPUs(cands []candidate, demand int) (Placement, error) {
	var best *candidate
	for i, c := range cands {
		enough := c.freeGPUs >= demand && demand > 0
		if demand < 0 {
			enough = len(c.gpus) > 0 && c.freeGPUs == len(c.gpus)
		}
		if !enough {
			continue
		}
		if best == nil || c.freeGPUs > best.freeGPUs || (c.freeGPUs == best.freeGPUs && c.freeMemory() > best.freeMemory()) {
			best = &cands[i]
		}
	}
	if best == nil {
		want := fmt.Sprintf("%d free GPUs", demand)
		if demand < 0 {
			want = "all its GPUs free"
		}
		return Placement{}, errorf(ErrGPUHeld, "", "no member you may use has %s; see 'gpus'", want)
	}
	return Placement{Host: best.m.Name, member: best.m, gpus: best.gpus,
		Reason: fmt.Sprintf("%d of %d GPUs free", best.freeGPUs, len(best.gpus))}, nil
}

// groupOf is the user's cluster group ("" for any member).
func (s *Service) groupOf(ctx context.Context, user string) (string, error) {
	uid, err := s.userID(ctx, s.db, user)
	if err != nil {
		return "", err
	}
	q, err := s.limits(ctx, s.db, uid)
	if err != nil {
		return "", fmt.Errorf("quota of %s: %w", user, err)
	}
	return q.Hosts, nil
}

func ipv4Uint(ip net.IP) uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

func uintIPv4(n uint32) net.IP { return net.IPv4(byte(n>>24), byte(n>>16), byte(n>>8), byte(n)) }

// Move moves user's stopped container to another cluster member (admins),
// with a routed address in that member's subnet. A container holding GPUs
// stays: its GPUs are the member's.
func (s *Service) Move(ctx context.Context, user, name, host string) error {
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	project := s.Project(user)
	ms, in, err := s.movable(ctx, project, name, host, r)
	if err != nil {
		return err
	}
	p, err := s.placeOn(ctx, ms, host, "")
	if err != nil {
		return err
	}
	if in.Routed != "" && p.member.Subnet != "" {
		addr, _, aerr := s.allocAddress(ctx, p.member, user, name, r.ID)
		if aerr != nil {
			return aerr
		}
		if err = s.lxd.SetRouted(ctx, project, name, addr); err != nil {
			s.settleMoveAddress(context.WithoutCancel(ctx), r.ID, p.member.Subnet, addr, false)
			return fmt.Errorf("move %s: %w", name, err)
		}
		defer func() {
			// Runs after the set-back below: the claims follow what LXD has.
			s.settleMoveAddress(context.WithoutCancel(ctx), r.ID, p.member.Subnet, addr, err == nil)
		}()
		defer func() {
			if err != nil {
				if rerr := s.lxd.SetRouted(context.WithoutCancel(ctx), project, name, in.Routed); rerr != nil {
					s.log.Error("move failed and the old address could not be set back", "user", user, "name", name, "err", rerr)
				}
			}
		}()
	}
	// It holds no GPU (see above): a GPU device it carries anyway names
	// the old member's GPU and must not travel.
	if err = s.fitGPUsOf(ctx, user, name); err != nil {
		return fmt.Errorf("move %s: %w", name, err)
	}
	if err = s.lxd.Move(ctx, project, name, host); err != nil {
		return fmt.Errorf("move %s: %w", name, err)
	}
	s.log.Info("moved", "user", user, "name", name, "from", in.Location, "to", host)
	return nil
}

// movable returns the cluster's members and the container as LXD has it,
// or why it cannot move to host.
func (s *Service) movable(ctx context.Context, project, name, host string, r row) ([]lxd.Member, lxd.Instance, error) {
	ms, err := s.lxd.Members(ctx)
	if err != nil {
		return nil, lxd.Instance{}, fmt.Errorf("move %s: %w", name, err)
	}
	if ms == nil {
		return nil, lxd.Instance{}, errors.New("this gateway's LXD is not a cluster; there is nowhere to move to")
	}
	in, err := s.lxd.Get(ctx, project, name)
	switch {
	case err != nil:
		return nil, lxd.Instance{}, fmt.Errorf("move %s: %w", name, err)
	case in.Running:
		return nil, lxd.Instance{}, fmt.Errorf("%s is running; stop it first", name)
	case in.Location == host:
		return nil, lxd.Instance{}, fmt.Errorf("%s is already on %s", name, host)
	case r.GPUs != "":
		return nil, lxd.Instance{}, fmt.Errorf("%s holds GPUs of %s; GPUs stay with their member, so it cannot move", name, in.Location)
	case len(in.Disks) > 0:
		return nil, lxd.Instance{}, fmt.Errorf("%s has volumes or datasets attached; detach them first, as they stay on their member", name)
	}
	return ms, in, nil
}

// HostInfo is a cluster member as 'hosts' shows it.
type HostInfo struct {
	Name       string   `json:"name"`
	Status     string   `json:"status"`
	Groups     []string `json:"groups"`
	MemoryFree int64    `json:"memory_free"`
	CPUs       int      `json:"cpus"`
	GPUs       int      `json:"gpus"`
	GPUsFree   int      `json:"gpus_free"`
}

// Hosts lists the cluster's members with what placement weighs; none on a
// single host.
func (s *Service) Hosts(ctx context.Context) ([]HostInfo, error) {
	ms, err := s.lxd.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := []HostInfo{}
	for _, m := range ms {
		h := HostInfo{Name: m.Name, Status: strings.ToLower(m.Status), Groups: m.Groups}
		if h.Groups == nil {
			h.Groups = []string{}
		}
		if m.Online {
			if c, err := s.weigh(ctx, m); err == nil {
				h.MemoryFree, h.CPUs, h.GPUs, h.GPUsFree = int64(c.freeMemory()), c.res.CPUs, len(c.gpus), c.freeGPUs
			}
		}
		out = append(out, h)
	}
	return out, nil
}
