package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/lxcgate/lxcgate/internal/failpoint"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/mapping"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/store"
)

// ErrNoPort is returned when the host port range is used up.
var ErrNoPort = errors.New("no free host port left in the configured range; ask an admin to widen ports.range")

// services returns the configured services in a stable order.
func (s *Service) services() []Port {
	var out []Port
	for name, p := range s.conf().Services {
		out = append(out, Port{Service: name, ContainerPort: p})
	}
	for name, p := range s.conf().WebApps {
		if _, dup := s.conf().Services[name]; !dup {
			out = append(out, Port{Service: name, ContainerPort: p, Web: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// allocPort reserves the lowest free host port for a container's service.
// Ports taken by a listening socket on the host are skipped. It runs in the
// caller's transaction, which makes the scan and the insert one step for
// every session and process; the UNIQUE host_port column backs it up.
func (s *Service) allocPort(ctx context.Context, q store.Querier, id store.ContainerID, p Port, userAdded bool) (int, error) {
	used, err := s.st.Ports.HostPorts(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("host ports in use: %w", err)
	}
	for hp := s.conf().PortFirst; hp <= s.conf().PortLast; hp++ {
		if used[hp] || listening(hp) {
			continue
		}
		err := s.st.Ports.Insert(ctx, q, store.Port{ContainerID: id, Service: p.Service, ContainerPort: p.ContainerPort,
			HostPort: hp, UserAdded: userAdded})
		if err != nil {
			return 0, fmt.Errorf("reserve host port %d for %s: %w", hp, p.Service, err)
		}
		return hp, nil
	}
	return 0, ErrNoPort
}

// listening reports whether something on the host already listens on port.
func listening(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

// ensurePorts gives a container every configured service it lacks: new
// containers, adopted ones, and all of them when a service is configured.
// It runs in the caller's transaction.
func (s *Service) ensurePorts(ctx context.Context, q store.Querier, id store.ContainerID) error {
	ps, err := s.st.Ports.List(ctx, q, id)
	if err != nil {
		return fmt.Errorf("ports of container %d: %w", id, err)
	}
	have := map[string]bool{}
	for _, p := range ps {
		have[p.Service] = true
	}
	for _, p := range s.services() {
		switch {
		case have[p.Service]:
		case p.Web:
			err := s.st.Ports.Insert(ctx, q, store.Port{ContainerID: id, Service: p.Service, ContainerPort: p.ContainerPort, Web: true})
			if err != nil {
				return fmt.Errorf("web app %s: %w", p.Service, err)
			}
		default:
			if _, err := s.allocPort(ctx, q, id, p, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// portsOf returns the published ports of containers by id.
func (s *Service) portsOf(ctx context.Context, ids ...store.ContainerID) (map[store.ContainerID][]Port, error) {
	out := map[store.ContainerID][]Port{}
	ps, err := s.st.Ports.List(ctx, s.db, ids...)
	if err != nil {
		return nil, fmt.Errorf("read ports: %w", err)
	}
	for _, p := range ps {
		out[p.ContainerID] = append(out[p.ContainerID], Port{Service: p.Service, ContainerPort: p.ContainerPort, HostPort: p.HostPort, Web: p.Web})
	}
	return out, nil
}

// AllMappings gives portmap the desired state: the ports of running
// containers that have an address, and the running ones still waiting for
// one.
func (s *Service) AllMappings(ctx context.Context) (mapping.Desired, error) {
	rs, err := s.rows(ctx, "")
	if err != nil {
		return mapping.Desired{}, err
	}
	ins, err := s.lxd.List(ctx, "")
	if err != nil {
		return mapping.Desired{}, err
	}
	s.noteInventory(ctx, rs, ins)
	d, err := s.mappings(ctx, rs, ins)
	if err == nil && s.conf().OnChange != nil {
		// One started behind the gateway's back (or while it was down)
		// sent no event the gateway saw: watch it as after an event,
		// rather than leave it unmapped until the next pass.
		for _, r := range d.Pending {
			s.watchAddress(r)
		}
	}
	return d, err
}

// Mappings gives one container's desired mappings; none when it is gone,
// stopped or still without an address.
func (s *Service) Mappings(ctx context.Context, r ref.Ref) ([]mapping.Mapping, error) {
	rw, err := s.lookup(ctx, r.Owner, r.Name)
	if errors.Is(err, ErrNoSuch) {
		return nil, nil // deleted: nothing is desired
	}
	if err != nil {
		return nil, err
	}
	in, err := s.lxd.Get(ctx, s.Project(r.Owner), r.Name)
	if errors.Is(err, lxd.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if in.Offline != "" {
		// Its member does not answer: say nothing rather than "none",
		// which would drop its rules.
		return nil, fmt.Errorf("%s: %w", r, errOffline(in.Offline))
	}
	d, err := s.mappings(ctx, []row{rw}, []lxd.Instance{in})
	return d.Mappings, err
}

func (s *Service) mappings(ctx context.Context, rs []row, ins []lxd.Instance) (mapping.Desired, error) {
	var d mapping.Desired
	running := map[ref.Ref]lxd.Instance{}
	for _, in := range ins {
		owner, ok := s.owner(in.Project)
		switch {
		case ok && in.Offline != "":
			d.Unknown = append(d.Unknown, ref.Ref{Owner: owner, Name: in.Name})
		case ok && in.Running:
			running[ref.Ref{Owner: owner, Name: in.Name}] = in
		}
	}
	ports, err := s.portsOf(ctx, idsOf(rs)...)
	if err != nil {
		return d, err
	}
	out, pending := d.Mappings, d.Pending
	for _, r := range rs {
		id := ref.Ref{Owner: r.Owner, Name: r.Name}
		in, ok := running[id]
		if !ok || r.State != store.StateReady {
			continue
		}
		if in.IPv4 == "" {
			pending = append(pending, id)
			continue
		}
		for _, p := range ports[r.ID] {
			if p.Web {
				continue // served by the apps listener, not DNAT
			}
			out = append(out, mapping.Mapping{Owner: r.Owner, Name: r.Name, Service: p.Service, HostPort: p.HostPort,
				IP: in.IPv4, ContainerPort: p.ContainerPort})
		}
	}
	d.Mappings, d.Pending = out, pending
	return d, nil
}

var labelRE = nameRE

// PortAdd publishes another port of user's container under label.
func (s *Service) PortAdd(ctx context.Context, user, name string, containerPort int, label string) (Port, error) {
	return s.portAdd(ctx, user, name, containerPort, label, false)
}

// AddWebApp publishes a port of user's container as a web app: served
// through the apps listener behind the lab's sign-in, on no host port.
func (s *Service) AddWebApp(ctx context.Context, user, name string, containerPort int, label string) (Port, error) {
	if s.conf().AppURL == nil {
		return Port{}, errors.New("web apps are off on this gateway: an admin sets [web] apps_listen or apps_domain")
	}
	return s.portAdd(ctx, user, name, containerPort, label, true)
}

func (s *Service) portAdd(ctx context.Context, user, name string, containerPort int, label string, web bool) (Port, error) {
	if containerPort < 1 || containerPort > 65535 {
		return Port{}, fmt.Errorf("container port %d: use 1-65535", containerPort)
	}
	if label == "" {
		label = fmt.Sprintf("port%d", containerPort)
	}
	if !labelRE.MatchString(label) {
		return Port{}, fmt.Errorf("label %q: use letters, digits and '-', starting with a letter", label)
	}
	if web && !ValidAppLabel(label) {
		return Port{}, fmt.Errorf("label %q: a web app's label is lower-case letters, digits and single '-' (it is part of a host name), at most 32", label)
	}
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return Port{}, err
	}
	defer release()
	p := Port{Service: label, ContainerPort: containerPort, Web: web}
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		ps, err := s.st.Ports.List(ctx, q, r.ID)
		if err != nil {
			return fmt.Errorf("port add %s: %w", name, err)
		}
		added := 0
		for _, have := range ps {
			if have.Service == label || have.ContainerPort == containerPort {
				return errorf(ErrPortUsed, name, "%s already publishes %q or port %d", name, label, containerPort)
			}
			if have.UserAdded {
				added++
			}
		}
		quota, err := s.limits(ctx, q, r.UserID)
		if err != nil {
			return fmt.Errorf("port add %s: %w", name, err)
		}
		if added+1 > quota.Ports {
			return fmt.Errorf("%w: added ports would be %d, your limit per container is %d; 'port del' one first",
				ErrQuota, added+1, quota.Ports)
		}
		if web {
			return s.st.Ports.Insert(ctx, q, store.Port{ContainerID: r.ID, Service: label, ContainerPort: containerPort, UserAdded: true, Web: true})
		}
		p.HostPort, err = s.allocPort(ctx, q, r.ID, p, true)
		return err
	})
	if err != nil {
		return Port{}, err
	}
	failpoint.Hit("port:reserved")
	s.keepPortKeys(ctx, user, name, portKeys([]Port{p}))
	s.changed(user, name)
	return s.withURL(user, name, p), nil
}

// PortDel withdraws a port the user added.
func (s *Service) PortDel(ctx context.Context, user, name, label string) error {
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	err = s.st.Ports.DeleteAdded(ctx, s.db, r.ID, label)
	if errors.Is(err, store.ErrNotFound) {
		ps, err := s.st.Ports.List(ctx, s.db, r.ID)
		if err != nil {
			return fmt.Errorf("port del %s: %w", name, err)
		}
		for _, p := range ps {
			if p.Service == label {
				return fmt.Errorf("%q is published for every container by the gateway's configuration and cannot be removed", label)
			}
		}
		return errorf(ErrNoPortRule, name, "%s publishes no port %q", name, label)
	}
	if err != nil {
		return fmt.Errorf("port del %s: %w", name, err)
	}
	s.keepPortKeys(ctx, user, name, map[string]string{lxd.PortKey(label): "", lxd.ContainerPortKey(label): ""})
	s.changed(user, name)
	return nil
}

// portKeys are the instance config keys that keep ports in LXD: host
// port and container port by service.
func portKeys(ps []Port) map[string]string {
	kv := map[string]string{}
	for _, p := range ps {
		kv[lxd.PortKey(p.Service)] = strconv.Itoa(p.HostPort)
		if p.Web {
			kv[lxd.PortKey(p.Service)] = webKey
		}
		kv[lxd.ContainerPortKey(p.Service)] = strconv.Itoa(p.ContainerPort)
	}
	return kv
}

// keepPortKeys writes port keys to the instance. The database stays the
// truth while it lives: a failure is logged, and the next reconcile
// writes them again.
func (s *Service) keepPortKeys(ctx context.Context, user, name string, kv map[string]string) {
	if err := s.lxd.SetConfig(context.WithoutCancel(ctx), s.Project(user), name, kv); err != nil {
		s.log.Warn("keeping host ports in LXD failed; the next reconcile retries", "user", user, "name", name, "err", err)
	}
}
