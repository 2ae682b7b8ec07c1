package containers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
)

// Prepare brings LXD's shared state (the GPU profile) to what the
// configuration describes.
func (s *Service) Prepare(ctx context.Context) error {
	return s.lxd.EnsureGPUProfile(ctx, s.conf().GPU)
}

// Reconcile makes the database and LXD agree after a crash or changes made
// behind the gateway's back: an instance in a user's project without a row
// is adopted, an interrupted create is kept, an interrupted delete is
// finished, and a row without an instance is dropped. A step that fails
// for one container is logged and tried again at the next reconcile.
func (s *Service) Reconcile(ctx context.Context) error {
	s.busy.Lock()
	defer s.busy.Unlock()
	ins, err := s.lxd.List(ctx, "")
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	rs, err := s.rows(ctx, "")
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	byKey := map[string]row{}
	for _, r := range rs {
		byKey[s.Project(r.Owner)+"/"+r.Name] = r
	}
	seen := map[string]bool{}
	for _, in := range ins {
		if !strings.HasPrefix(in.Project, s.conf().Prefix) {
			continue
		}
		key := in.Project + "/" + in.Name
		seen[key] = true
		if in.Offline != "" {
			continue // its member does not answer: nothing is known, nothing changes
		}
		r, known := byKey[key]
		if err := s.settle(ctx, in, r, known); err != nil {
			return err
		}
	}
	for key, r := range byKey {
		if seen[key] {
			continue
		}
		if err := s.st.Containers.Delete(ctx, s.db, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("reconcile: dropping a row whose instance is gone failed", "owner", r.Owner, "name", r.Name, "err", err)
			continue
		}
		s.log.Warn("reconcile: dropped a row whose instance is gone", "owner", r.Owner, "name", r.Name, "state", r.State)
	}
	s.checkGPUBooks(ctx, ins)
	if err := s.reconcilePorts(ctx); err != nil {
		return err
	}
	s.reconcilePortKeys(ctx, ins)
	s.reconcileAddresses(ctx, ins)
	s.reconcileVolumes(ctx)
	return nil
}

// settle brings one instance in a user's project and its row (when known)
// into agreement.
func (s *Service) settle(ctx context.Context, in lxd.Instance, r row, known bool) error {
	owner := strings.TrimPrefix(in.Project, s.conf().Prefix)
	if in.Unfiltered() {
		// Made before lxcgate filtered NICs, or by hand: without the
		// filter the container could use another address.
		if err := s.lxd.SecureNIC(ctx, in.Project, in.Name); err != nil {
			s.log.Error("reconcile: could not turn on address filtering", "owner", owner, "name", in.Name, "err", err)
		} else {
			s.log.Info("reconcile: turned on MAC and IPv4 filtering", "owner", owner, "name", in.Name)
		}
	}
	switch {
	case !known:
		return s.adopt(ctx, owner, in)
	case r.State == store.StateCreating:
		if err := s.st.Containers.SetState(ctx, s.db, r.ID, store.StateReady); err != nil {
			s.log.Error("reconcile: keeping a container whose create was interrupted failed", "owner", owner, "name", in.Name, "err", err)
			return nil
		}
		s.log.Info("reconcile: kept a container whose create was interrupted", "owner", owner, "name", in.Name)
	case r.State == store.StateDeleting:
		if err := s.lxd.Delete(ctx, in.Project, in.Name, true); err != nil && !errors.Is(err, lxd.ErrNotFound) {
			s.log.Error("reconcile: finishing a delete failed", "owner", owner, "name", in.Name, "err", err)
			return nil
		}
		if err := s.st.Containers.Delete(ctx, s.db, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("reconcile: instance deleted, but dropping its row failed", "owner", owner, "name", in.Name, "err", err)
			return nil
		}
		s.log.Info("reconcile: finished an interrupted delete", "owner", owner, "name", in.Name)
	}
	return nil
}

// adopt records an instance found in a user's project without a row.
func (s *Service) adopt(ctx context.Context, owner string, in lxd.Instance) error {
	key := in.Project + "/" + in.Name
	uid, err := s.st.Users.ID(ctx, s.db, owner)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn("reconcile: instance of an unknown user left alone", "project", in.Project, "name", in.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconcile: adopt %s: %w", key, err)
	}
	var host []lxd.GPU
	if len(in.GPUs) > 0 {
		if host, err = s.allGPUs(ctx); err != nil {
			return fmt.Errorf("reconcile: adopt %s: %w", key, err)
		}
	}
	var kept []int
	var gpus string
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		// Its GPUs are booked as a launch would book them: one that
		// another container holds is not, and its device goes at the
		// GPU check below.
		var n int
		if gpus, n, err = s.adoptGPUs(ctx, q, in, host); err != nil {
			return err
		}
		id, err := s.st.Containers.Insert(ctx, q, store.Container{UserID: uid, Name: in.Name, Image: in.Image, CPU: in.CPU,
			Memory: in.Memory, Disk: in.Disk, GPUs: gpus, GPUCount: n, State: store.StateReady, Created: in.Created})
		if err != nil {
			return err
		}
		kept, err = s.adoptPorts(ctx, q, id, owner, in)
		return err
	})
	if err != nil {
		return fmt.Errorf("reconcile: adopt %s: %w", key, err)
	}
	s.recordGPUs(ctx, owner, in.Name, gpus)
	s.log.Info("reconcile: adopted an instance without a row", "owner", owner, "name", in.Name, "host_ports", kept, "gpus", gpus)
	return nil
}

// adoptPorts records the host ports an instance keeps in its config keys
// (lxd.PortKey), the same ports as before the database was lost. A key
// whose port is out of range or taken, or whose container port is unknown,
// is skipped: ensurePorts gives configured services fresh ones.
func (s *Service) adoptPorts(ctx context.Context, q store.Querier, id store.ContainerID, owner string, in lxd.Instance) ([]int, error) {
	used, err := s.st.Ports.HostPorts(ctx, q)
	if err != nil {
		return nil, err
	}
	var services []string
	for k := range in.Config {
		if svc, ok := strings.CutPrefix(k, lxd.PortKey("")); ok && svc != "" {
			services = append(services, svc)
		}
	}
	sort.Strings(services)
	var kept []int
	for _, svc := range services {
		cp, err2 := strconv.Atoi(in.Config[lxd.ContainerPortKey(svc)])
		if in.Config[lxd.PortKey(svc)] == webKey {
			wconf, configured := s.conf().WebApps[svc]
			if configured {
				cp, err2 = wconf, nil
			}
			if err2 != nil || cp < 1 || cp > 65535 {
				s.log.Warn("reconcile: a kept web app could not be taken back", "owner", owner, "name", in.Name, "service", svc)
				continue
			}
			if err := s.st.Ports.Insert(ctx, q, store.Port{ContainerID: id, Service: svc, ContainerPort: cp, UserAdded: !configured, Web: true}); err != nil {
				return nil, fmt.Errorf("take back web app %s: %w", svc, err)
			}
			continue
		}
		hp, err1 := strconv.Atoi(in.Config[lxd.PortKey(svc)])
		conf, configured := s.conf().Services[svc]
		if err2 != nil && configured {
			cp, err2 = conf, nil
		}
		if configured {
			cp = conf // the configuration decides a configured service's port
		}
		if err1 != nil || err2 != nil || hp < s.conf().PortFirst || hp > s.conf().PortLast || used[hp] || cp < 1 || cp > 65535 {
			s.log.Warn("reconcile: a kept host port could not be taken back", "owner", owner, "name", in.Name, "service", svc,
				"value", in.Config[lxd.PortKey(svc)])
			continue
		}
		err := s.st.Ports.Insert(ctx, q, store.Port{ContainerID: id, Service: svc, ContainerPort: cp, HostPort: hp, UserAdded: !configured})
		if err != nil {
			return nil, fmt.Errorf("take back host port %d for %s: %w", hp, svc, err)
		}
		used[hp] = true
		kept = append(kept, hp)
	}
	return kept, nil
}

// reconcilePorts gives every container every configured service: adopted
// ones, and all of them after an admin adds a service.
func (s *Service) reconcilePorts(ctx context.Context) error {
	rs, err := s.rows(ctx, "")
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	// One read of every port finds the containers that lack a service;
	// only those take a transaction (ensurePorts checks again in it).
	have, err := s.portsOf(ctx, idsOf(rs)...)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, r := range rs {
		if r.State != store.StateReady || hasServices(have[r.ID], s.services()) {
			continue
		}
		err := store.Tx(ctx, s.db, func(q store.Querier) error { return s.ensurePorts(ctx, q, r.ID) })
		if err != nil {
			s.log.Error("reconcile: reserving ports failed", "owner", r.Owner, "name", r.Name, "err", err)
		}
	}
	return nil
}

// hasServices reports whether ps publishes every service of want.
func hasServices(ps []Port, want []Port) bool {
	for _, w := range want {
		if !slices.ContainsFunc(ps, func(p Port) bool { return p.Service == w.Service }) {
			return false
		}
	}
	return true
}

// reconcilePortKeys writes each container's host ports to its instance
// config where they differ: containers made before the keys existed, ports
// reserved by a reconcile, and writes that failed.
func (s *Service) reconcilePortKeys(ctx context.Context, ins []lxd.Instance) {
	rs, err := s.rows(ctx, "")
	if err != nil {
		s.log.Error("reconcile: reading containers for their port keys failed", "err", err)
		return
	}
	byKey := map[string]lxd.Instance{}
	for _, in := range ins {
		byKey[in.Project+"/"+in.Name] = in
	}
	var ids []store.ContainerID
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	ps, err := s.portsOf(ctx, ids...)
	if err != nil {
		s.log.Error("reconcile: reading ports for their keys failed", "err", err)
		return
	}
	for _, r := range rs {
		in, ok := byKey[s.Project(r.Owner)+"/"+r.Name]
		if !ok || r.State != store.StateReady || in.Offline != "" {
			continue
		}
		want := portKeys(ps[r.ID])
		kv := map[string]string{}
		for k, v := range want {
			if in.Config[k] != v {
				kv[k] = v
			}
		}
		for k := range in.Config {
			if _, ok := want[k]; !ok {
				kv[k] = ""
			}
		}
		if len(kv) > 0 {
			s.keepPortKeys(ctx, r.Owner, r.Name, kv)
		}
	}
}
