package containers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
)

// The GPU devices on an instance always equal the books (the containers
// table). LXD does not keep them so by itself: a copy inherits its
// source's devices, a restore brings back a snapshot's, an admin may add
// one by hand. So every path that copies or rewrites an instance's config
// fits its devices to the books, and each reconcile checks them all.

// books is what the database gives one container, in the forms in which
// LXD's devices name GPUs.
type books struct {
	all     bool              // every GPU of its host ("all")
	profile bool              // ... through the GPU profile (not for simulated GPUs)
	ids     []string          // the GPUs it holds: PCI addresses and ids
	devices map[string]string // device name -> id, for held GPUs that get a device
}

// holds reports whether the books give the container the GPU a device
// names; with "all" every one.
func (b books) holds(id string) bool {
	if b.all {
		return true
	}
	return slices.ContainsFunc(b.ids, func(h string) bool { return lxd.SameGPU(h, id) })
}

// booksOf reads r's recorded GPUs against the host's. An expired container
// holds none: its GPUs went back to the lab. A recorded GPU the host does
// not list (a member that does not answer) still counts as held by its
// address, so that missing information never removes a booked device.
func booksOf(r row, host []lxd.GPU) books {
	b := books{devices: map[string]string{}}
	if r.GPUs == "" || r.StopReason == ReasonExpired {
		return b
	}
	for _, tok := range strings.Split(r.GPUs, ",") {
		tok = strings.TrimSpace(tok)
		member, bare := "", tok
		if i := strings.LastIndex(tok, "/"); i >= 0 {
			member, bare = tok[:i], tok[i+1:]
		}
		if bare == "all" {
			b.all = true
			b.profile = b.profile || !simulatedOnly(host, member)
			continue
		}
		b.ids = append(b.ids, bare)
		g := findGPU(host, tok)
		if g == nil {
			continue
		}
		b.ids = append(b.ids, g.PCI, g.ID)
		if g.MIG != "" {
			b.ids = append(b.ids, g.UUID)
		}
		if !g.Simulated {
			dev, id := gpuDevice(*g)
			b.devices[dev] = id
		}
	}
	return b
}

// simulatedOnly reports a member whose GPUs are all simulated (they get
// no device); a member with none listed is not known to be.
func simulatedOnly(host []lxd.GPU, member string) bool {
	n := 0
	for _, g := range host {
		if g.Host == member {
			if !g.Simulated {
				return false
			}
			n++
		}
	}
	return n > 0
}

// unbooked lists in's GPU devices that the books do not give it, as
// "DEVICE=GPU", sorted.
func unbooked(in lxd.Instance, b books) []string {
	var out []string
	for name, id := range in.GPUDevices {
		if !b.holds(id) {
			out = append(out, name+"="+id)
		}
	}
	sort.Strings(out)
	return out
}

// wantGPUs is the devices in should carry: those it has that the books
// give it, and a device for each held GPU it lacks.
func (s *Service) wantGPUs(in lxd.Instance, b books) lxd.GPUWant {
	w := lxd.GPUWant{Profile: s.conf().GPU.Name, All: b.profile, Devices: map[string]string{}}
	for name, id := range in.GPUDevices {
		if name == lxd.GPUProfileDevice && id == lxd.AllGPUs {
			continue // the GPU profile's device: All decides
		}
		if b.holds(id) {
			w.Devices[name] = id
		}
	}
	for dev, id := range b.devices {
		has := false
		for _, v := range w.Devices {
			has = has || lxd.SameGPU(v, id)
		}
		if !has {
			w.Devices[dev] = id
		}
	}
	return w
}

// fits reports whether in already carries exactly w's GPU devices.
func fits(in lxd.Instance, w lxd.GPUWant) bool {
	for name, id := range in.GPUDevices {
		profiles := w.All && name == lxd.GPUProfileDevice && id == lxd.AllGPUs
		if want, ok := w.Devices[name]; !profiles && (!ok || !lxd.SameGPU(want, id)) {
			return false
		}
	}
	for name, id := range w.Devices {
		if have, ok := in.GPUDevices[name]; !ok || !lxd.SameGPU(have, id) {
			return false
		}
	}
	return !w.All || in.GPUDevices[lxd.GPUProfileDevice] == lxd.AllGPUs
}

// fitGPUs makes in's GPU devices equal r's books. It does not stop the
// container: callers do where it might run with a GPU it should not have.
func (s *Service) fitGPUs(ctx context.Context, r row, in lxd.Instance, host []lxd.GPU) error {
	w := s.wantGPUs(in, booksOf(r, host))
	if fits(in, w) {
		return nil
	}
	if _, err := s.lxd.SetGPUs(ctx, s.Project(r.Owner), r.Name, w); err != nil {
		return fmt.Errorf("set the GPU devices of %s: %w", r.Name, err)
	}
	return nil
}

// fitGPUsOf reads user's container afresh and fits its GPU devices to
// its books.
func (s *Service) fitGPUsOf(ctx context.Context, user, name string) error {
	r, err := s.lookup(ctx, user, name)
	if err != nil {
		return err
	}
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	if err != nil {
		return fmt.Errorf("set the GPU devices of %s: %w", name, err)
	}
	if len(in.GPUDevices) == 0 && (r.GPUs == "" || r.StopReason == ReasonExpired) {
		return nil // nothing carried, nothing held: no need to ask for the GPUs
	}
	host, err := s.allGPUs(ctx)
	if err != nil {
		return fmt.Errorf("set the GPU devices of %s: %w", name, err)
	}
	return s.fitGPUs(ctx, r, in, host)
}

// fitCopy strips from a fresh copy the GPU devices LXD took over from its
// source's snapshot beyond what the copy itself was booked.
func (s *Service) fitCopy(ctx context.Context, user string, req CreateRequest, host []lxd.GPU) error {
	in, err := s.lxd.Get(ctx, s.Project(user), req.Name)
	if err != nil {
		return fmt.Errorf("set the GPU devices of %s: %w", req.Name, err)
	}
	return s.fitGPUs(ctx, row{Owner: user, Name: req.Name, GPUs: req.GPU}, in, host)
}

// undoCopy takes away a copy whose GPU devices could not be fitted: it
// would carry a GPU it does not hold.
func (s *Service) undoCopy(ctx context.Context, user string, req CreateRequest, id store.ContainerID, cause error) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.lxd.Delete(ctx, s.Project(user), req.Name, true); err != nil && !errors.Is(err, lxd.ErrNotFound) {
		// Kept as "creating": the next reconcile keeps it and strips it.
		s.log.Error("undoing a copy whose GPU devices could not be fitted failed", "user", user, "name", req.Name, "err", err)
		return fmt.Errorf("clone %s: %w; try again", req.Name, cause)
	}
	s.unreserve(user, req.Name, id)
	return fmt.Errorf("clone %s: %w; nothing was kept, try again", req.Name, cause)
}

// checkGPUBooks holds every instance to the books: an unbooked GPU device
// is removed, the container stopped first if it runs with one, with a log
// line and an audit row each.
func (s *Service) checkGPUBooks(ctx context.Context, ins []lxd.Instance) {
	rs, err := s.rows(ctx, "")
	if err != nil {
		s.log.Error("reconcile: reading containers for their GPUs failed", "err", err)
		return
	}
	byKey := map[string]row{}
	for _, r := range rs {
		byKey[s.Project(r.Owner)+"/"+r.Name] = r
	}
	var host []lxd.GPU
	loaded := false
	for _, in := range ins {
		r, ok := byKey[in.Project+"/"+in.Name]
		if !ok || r.State != store.StateReady || in.Offline != "" || len(in.GPUDevices) == 0 {
			continue
		}
		if !loaded {
			if host, err = s.allGPUs(ctx); err != nil {
				s.log.Warn("reconcile: GPUs unknown; their devices are checked at the next reconcile", "err", err)
				return
			}
			loaded = true
		}
		b := booksOf(r, host)
		if bad := unbooked(in, b); len(bad) > 0 {
			s.repairGPUs(ctx, r, in, b, bad)
		}
	}
}

// repairGPUs removes the GPU devices of in that its books do not give it.
func (s *Service) repairGPUs(ctx context.Context, r row, in lxd.Instance, b books, bad []string) {
	project := s.Project(r.Owner)
	detail := fmt.Sprintf("gpus %s: removed GPU devices it does not hold: %s", r.Name, strings.Join(bad, ", "))
	var err error
	if in.Running {
		// At once: it is using a GPU that is not its own.
		if err = s.lxd.Stop(ctx, project, r.Name, true); err != nil && !errors.Is(err, lxd.ErrNotRunning) {
			err = fmt.Errorf("stopping it failed: %w", err)
		} else {
			err, detail = nil, detail+"; stopped it first"
			s.changed(r.Owner, r.Name)
		}
	}
	if err == nil {
		_, err = s.lxd.SetGPUs(ctx, project, r.Name, s.wantGPUs(in, b))
	}
	if err != nil {
		s.log.Error("reconcile: removing unbooked GPU devices failed; the next reconcile retries", "owner", r.Owner,
			"name", r.Name, "devices", bad, "err", err)
		detail += " => " + err.Error()
	} else {
		s.log.Warn("reconcile: removed unbooked GPU devices", "owner", r.Owner, "name", r.Name, "devices", bad, "was_running", in.Running)
	}
	ev := store.AuditEvent{At: time.Now(), Kind: audit.KindAuto, User: r.Owner, Method: "gateway", Detail: detail, OK: err == nil}
	if aerr := s.st.Audit.Insert(context.WithoutCancel(ctx), s.db, ev); aerr != nil {
		s.log.Error("reconcile: recording a GPU repair failed", "owner", r.Owner, "name", r.Name, "err", aerr)
	}
}

// adoptGPUs is what an adopted instance's GPU devices book, in the
// reservation's transaction: each GPU it carries that no other container
// holds (with exclusive GPUs), by key, and how many GPUs that is. The
// devices left out go at the reconcile's GPU check.
func (s *Service) adoptGPUs(ctx context.Context, q store.Querier, in lxd.Instance, host []lxd.GPU) (string, int, error) {
	held := map[string][]string{}
	if !s.conf().SharedGPUs {
		var err error
		if held, err = s.held(ctx, q, host); err != nil {
			return "", 0, err
		}
	}
	var mine []lxd.GPU // the GPUs of the instance's own host
	for _, g := range host {
		if g.Host == in.Location {
			mine = append(mine, g)
		}
	}
	var keys []string
	n := 0
	for _, id := range slices.Compact(slices.Clone(in.GPUs)) {
		switch g := findGPU(mine, id); {
		case id == lxd.AllGPUs:
			if slices.ContainsFunc(mine, func(g lxd.GPU) bool { return len(held[gpuKey(g)]) > 0 }) {
				continue
			}
			keys, n = append(keys, allKey(in.Location)), n+len(mine)
		case g == nil:
			// Not a GPU the host lists: booked as written, so that it is
			// counted and its device stays.
			keys, n = append(keys, memberKey(in.Location, strings.ToLower(id))), n+1
		case len(held[gpuKey(*g)]) == 0 && !slices.Contains(keys, gpuKey(*g)):
			keys, n = append(keys, gpuKey(*g)), n+1
		}
	}
	return strings.Join(keys, ","), n, nil
}

func memberKey(member, k string) string {
	if member == "" {
		return k
	}
	return member + "/" + k
}

// CheckGPUs holds every instance to the books between full reconciles, so
// that a device added by hand, or one a failed step left, goes within a
// pass. A container busy with an operation is left to the next pass; one
// found out of line is read again under its lock before it is repaired.
func (s *Service) CheckGPUs(ctx context.Context) error {
	s.busy.RLock()
	defer s.busy.RUnlock()
	ins, err := s.lxd.List(ctx, "")
	if err != nil {
		return fmt.Errorf("check GPU devices: %w", err)
	}
	var carrying []lxd.Instance
	for _, in := range ins {
		if len(in.GPUDevices) > 0 && in.Offline == "" && strings.HasPrefix(in.Project, s.conf().Prefix) {
			carrying = append(carrying, in)
		}
	}
	if len(carrying) == 0 {
		return nil
	}
	rs, err := s.rows(ctx, "")
	if err != nil {
		return fmt.Errorf("check GPU devices: %w", err)
	}
	host, err := s.allGPUs(ctx)
	if err != nil {
		return fmt.Errorf("check GPU devices: %w", err)
	}
	byKey := map[string]row{}
	for _, r := range rs {
		byKey[s.Project(r.Owner)+"/"+r.Name] = r
	}
	for _, in := range carrying {
		if r, ok := byKey[in.Project+"/"+in.Name]; ok && r.State == store.StateReady && len(unbooked(in, booksOf(r, host))) > 0 {
			s.recheckGPUs(ctx, r, in)
		}
	}
	return nil
}

// recheckGPUs repairs one container found out of line, read again under
// its lock; one that an operation holds is left to the next pass.
func (s *Service) recheckGPUs(ctx context.Context, r row, in lxd.Instance) {
	unlock, ok := s.boxes.tryLock(r.Owner + "/" + r.Name)
	if !ok {
		return
	}
	defer unlock()
	fresh, err := s.lxd.Get(ctx, in.Project, in.Name)
	if err != nil {
		if !errors.Is(err, lxd.ErrNotFound) {
			s.log.Warn("check GPU devices: reading the instance failed; the next pass retries", "owner", r.Owner, "name", r.Name, "err", err)
		}
		return
	}
	s.checkGPUBooks(ctx, []lxd.Instance{fresh})
}
