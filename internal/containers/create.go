package containers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/failpoint"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Create reserves the container in the database under the user's quota,
// then creates it in LXD; a failure undoes the reservation, and a kill in
// between is settled by Reconcile.
func (s *Service) Create(ctx context.Context, user string, req CreateRequest) (Container, error) {
	p, err := s.plan(ctx, user, &req)
	if err != nil {
		return Container{}, err
	}
	defer p.release()
	spec := p.spec
	if p.placed.Host != "" {
		s.log.Info("placed", "user", user, "name", req.Name, "host", p.placed.Host, "reason", p.placed.Reason)
		if req.Progress != nil {
			req.Progress(fmt.Sprintf("Placed on %s: %s", p.placed.Host, p.placed.Reason))
		}
	}
	s.busy.RLock()
	defer s.busy.RUnlock()
	res, err := s.reserve(ctx, user, req, p.placed.gpus, p.gpuCount)
	if err != nil {
		return Container{}, err
	}
	failpoint.Hit("create:reserved")
	if req.Progress != nil {
		req.Progress("Creating " + req.Name)
	}
	unlock := s.boxes.lock(user + "/" + req.Name)
	defer unlock()
	// The host ports travel with the create request, so that they outlive
	// the database (see adopt).
	if ps, err := s.portsOf(ctx, res.id); err == nil {
		spec.Config = portKeys(ps[res.id])
	} else {
		s.log.Error("reading the reserved ports failed; the next reconcile records them in LXD", "user", user, "name", req.Name, "err", err)
	}
	if err := s.makeInstance(ctx, user, req, spec, res.quota); err != nil {
		s.unreserve(user, req.Name, res.id)
		return Container{}, err
	}
	failpoint.Hit("create:made")
	if req.copyOf != "" {
		if err := s.finishCopy(ctx, user, req, p.placed.gpus, spec.Config, spec.Disks); err != nil {
			return Container{}, s.undoCopy(ctx, user, req, res.id, err)
		}
	}
	if err := s.st.Containers.SetState(context.WithoutCancel(ctx), s.db, res.id, store.StateReady); err != nil {
		// LXD has it; Reconcile adopts it at the next start.
		s.log.Error("mark ready failed; the next start's reconcile keeps the container", "user", user, "name", req.Name, "err", err)
	}
	s.recordGPUs(ctx, user, req.Name, req.GPU)
	c := s.created(ctx, user, req, res.id)
	c.Host, c.Placement = p.placed.Host, p.placed.Reason
	if !res.until.IsZero() {
		c.Expires = &res.until
	}
	if req.Start {
		s.changed(user, req.Name)
	}
	return c, nil
}

// planned is a create decided before anything exists.
type planned struct {
	spec     lxd.Spec
	placed   Placement
	gpuCount int
	release  func() // gives back the routed address claimed for the create, unless its reservation bound it
}

// plan fills in req's defaults and checks everything that can be checked
// before anything exists: the name, the caps, the image, the member, the
// GPUs, the address. req.GPU becomes the resolved form.
func (s *Service) plan(ctx context.Context, user string, req *CreateRequest) (planned, error) {
	p := planned{release: func() {}}
	if err := ValidName(req.Name); err != nil {
		return p, err
	}
	if req.Image == "" {
		req.Image = s.conf().DefaultImage
	}
	if req.CPU == 0 {
		req.CPU = s.conf().CPU
	}
	if req.Memory == 0 {
		req.Memory = s.conf().Memory
	}
	if req.Disk == 0 {
		req.Disk = s.conf().Disk
	}
	if err := s.checkCaps(*req); err != nil {
		return p, err
	}
	if err := checkGPUCount(*req); err != nil {
		return p, err
	}
	if req.copyOf == "" {
		if err := s.checkImage(req.Image); err != nil {
			return p, err
		}
	}
	lease, err := s.leaseFor(req.Lease)
	if err != nil {
		return p, err
	}
	req.Lease = lease // recorded from now on as a deadline
	// A copy starts only once its GPU devices fit its books (finishCopy).
	p.spec = lxd.Spec{Name: req.Name, Image: req.Image, CPU: req.CPU, Memory: req.Memory, Disk: req.Disk,
		Start: req.Start && req.copyOf == "", CopyOf: req.copyOf}
	if err := s.placeByVolumes(ctx, user, req); err != nil {
		return p, err
	}
	if p.placed, err = s.place(ctx, user, *req); err != nil {
		return p, err
	}
	if p.spec.Disks, err = s.planDisks(ctx, user, p.placed.Host, req); err != nil {
		return p, err
	}
	if req.GPUs > 0 {
		if req.GPU, err = s.anyGPUs(ctx, req.GPUs, p.placed.gpus, p.placed.Host); err != nil {
			return p, err
		}
	}
	if req.GPU != "" && req.GPU != "all" {
		if req.GPU, err = s.migProfiles(ctx, req.GPU, p.placed.gpus); err != nil {
			return p, err
		}
	}
	gpus, n, err := s.pickGPUs(req.GPU, p.placed.gpus, p.placed.Host, &p.spec)
	if err != nil {
		return p, err
	}
	p.gpuCount = n
	req.GPU = strings.Join(gpus, ",") // recorded resolved: PCI addresses, or "all"
	p.spec.Target = p.placed.Host
	if p.placed.member.Subnet != "" {
		if p.spec.Routed, p.release, err = s.allocAddress(ctx, p.placed.member, user, req.Name, 0); err != nil {
			return planned{release: func() {}}, err
		}
	}
	return p, nil
}

// finishCopy fits a fresh copy's GPU devices to what it was booked (LXD's
// copy keeps its source's) and drops the port keys and the volume and
// dataset devices it took over beyond its own, then starts it if asked.
func (s *Service) finishCopy(ctx context.Context, user string, req CreateRequest, host []lxd.GPU, ownKeys map[string]string, disks map[string]lxd.Disk) error {
	ctx = context.WithoutCancel(ctx)
	if err := s.fitCopy(ctx, user, req, host); err != nil {
		return err
	}
	s.dropCopiedPortKeys(ctx, user, req.Name, ownKeys)
	if err := s.dropCopiedDisks(ctx, user, req.Name, disks); err != nil {
		return err
	}
	if req.Start {
		if err := s.lxd.Start(ctx, s.Project(user), req.Name); err != nil {
			return fmt.Errorf("start %s: %w", req.Name, err)
		}
	}
	return nil
}

// makeInstance creates the reserved container in LXD, in a project with the
// user's limits, and says what went wrong in the user's terms.
func (s *Service) makeInstance(ctx context.Context, user string, req CreateRequest, spec lxd.Spec, quota Quota) error {
	project := s.Project(user)
	if err := s.ensureProject(ctx, project, limitsOf(quota)); err != nil {
		return fmt.Errorf("create %s: %w", req.Name, err)
	}
	err := s.lxd.Create(ctx, project, spec, req.Progress)
	if errors.Is(err, lxd.ErrProjectMissing) {
		// Deleted behind our back since we last made sure of it.
		s.forgetProject(project)
		if err = s.ensureProject(ctx, project, limitsOf(quota)); err == nil {
			err = s.lxd.Create(ctx, project, spec, req.Progress)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, lxd.ErrExists):
		return fmt.Errorf("%w: you already have %q", ErrExists, req.Name)
	case errors.Is(err, lxd.ErrImageNotFound):
		return errorf(ErrNoImage, req.Name, "no image %q that you may use", req.Image)
	case errors.Is(err, lxd.ErrLimit):
		return errorf(ErrQuota, req.Name, "create %s: %v (LXD project limit)", req.Name, ErrQuota)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("create %s: cancelled; nothing was kept", req.Name)
	case errors.Is(err, lxd.ErrUnavailable):
		// LXD's own words already name the create; once is enough.
		return fmt.Errorf("create %s: %w", req.Name, lxd.ErrUnavailable)
	}
	return fmt.Errorf("create %s: %w", req.Name, err)
}

// created describes a container just made, from what was asked rather than
// read back: the address comes by DHCP after the start anyway, and a
// launch saves a round trip. Only its host ports are read.
func (s *Service) created(ctx context.Context, user string, req CreateRequest, id store.ContainerID) Container {
	state := "stopped"
	if req.Start {
		state = "running"
	}
	c := Container{Name: req.Name, Owner: user, State: state, Image: req.Image, Created: time.Now().UTC(), CPU: req.CPU,
		Memory: req.Memory, Disk: req.Disk, GPUs: []string{}, Ports: []Port{}}
	if req.GPU != "" {
		c.GPUs = strings.Split(req.GPU, ",")
	}
	ps, err := s.portsOf(context.WithoutCancel(ctx), id)
	if err != nil {
		// The container exists: its ports show in 'details'.
		s.log.Error("reading the ports of a new container failed", "user", user, "name", req.Name, "err", err)
		return c
	}
	if ps[id] != nil {
		c.Ports = s.withURLs(user, req.Name, ps[id])
	}
	return c
}

// checkCaps bounds one request, whatever the quota: a huge value must not
// reach the quota sums or LXD.
func (s *Service) checkCaps(req CreateRequest) error {
	switch {
	case req.CPU < 0 || req.Memory < 0 || req.Disk < 0:
		return errors.New("cpu, memory and disk must be positive")
	case s.conf().MaxCPU > 0 && req.CPU > s.conf().MaxCPU:
		return fmt.Errorf("cpu %d: at most %d for one container", req.CPU, s.conf().MaxCPU)
	case s.conf().MaxMemory > 0 && req.Memory > s.conf().MaxMemory:
		return fmt.Errorf("memory %s: at most %s for one container", units.FormatSize(req.Memory), units.FormatSize(s.conf().MaxMemory))
	case s.conf().MaxDisk > 0 && req.Disk > s.conf().MaxDisk:
		return fmt.Errorf("disk %s: at most %s for one container", units.FormatSize(req.Disk), units.FormatSize(s.conf().MaxDisk))
	}
	return nil
}

// checkImage applies the allowlist; whether the image exists LXD answers
// at create, before it makes anything (saving a round trip per launch).
func (s *Service) checkImage(image string) error {
	if len(s.conf().Images) > 0 && !slices.Contains(s.conf().Images, image) {
		return errorf(ErrNoImage, "", "no image %q that you may use", image)
	}
	return nil
}

// ensureProject makes sure of a project's limits once per process and
// value; later creates skip the round trips.
func (s *Service) ensureProject(ctx context.Context, project string, l lxd.Limits) error {
	s.projMu.Lock()
	known, ok := s.projects[project]
	s.projMu.Unlock()
	if ok && known == l {
		return nil
	}
	if err := s.lxd.EnsureProject(ctx, project, l); err != nil {
		return err
	}
	s.projMu.Lock()
	if s.projects == nil {
		s.projects = map[string]lxd.Limits{}
	}
	s.projects[project] = l
	s.projMu.Unlock()
	return nil
}

func (s *Service) forgetProject(project string) {
	s.projMu.Lock()
	delete(s.projects, project)
	s.projMu.Unlock()
}

func limitsOf(q Quota) lxd.Limits {
	return lxd.Limits{Instances: q.Containers, CPU: q.CPU, Memory: q.Memory, Disk: q.Disk}
}

// dropCopiedPortKeys removes the port keys a copy took over from its source
// beyond its own (the source's added ports): they would claim the source's
// host ports should the database be lost.
func (s *Service) dropCopiedPortKeys(ctx context.Context, user, name string, own map[string]string) {
	in, err := s.lxd.Get(context.WithoutCancel(ctx), s.Project(user), name)
	if err != nil {
		s.log.Warn("reading a copy's port keys failed; the next reconcile settles them", "user", user, "name", name, "err", err)
		return
	}
	kv := map[string]string{}
	for k := range in.Config {
		if _, ok := own[k]; !ok {
			kv[k] = ""
		}
	}
	if len(kv) > 0 {
		s.keepPortKeys(ctx, user, name, kv)
	}
}
