package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/lxcgate/lxcgate/internal/failpoint"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/portmap"
)

// ErrNoPort is returned when the host port range is used up.
var ErrNoPort = errors.New("no free host port left in the configured range; ask an admin to widen ports.range")

// services returns the configured services in a stable order.
func (s *Service) services() []Port {
	var out []Port
	for name, p := range s.cfg.Services {
		out = append(out, Port{Service: name, ContainerPort: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// allocPort reserves the lowest free host port for a container's service.
// Ports taken by a listening socket on the host are skipped. s.portMu makes
// the scan and the insert one step; the UNIQUE column backs it up.
func (s *Service) allocPort(ctx context.Context, containerID int64, p Port, userAdded bool) (int, error) {
	s.portMu.Lock()
	defer s.portMu.Unlock()
	used := map[int]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT host_port FROM ports`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var n int
		rows.Scan(&n)
		used[n] = true
	}
	rows.Close()
	for hp := s.cfg.PortFirst; hp <= s.cfg.PortLast; hp++ {
		if used[hp] || listening(hp) {
			continue
		}
		_, err := s.db.ExecContext(ctx, `INSERT INTO ports (container_id, service, container_port, host_port, user_added)
			VALUES (?, ?, ?, ?, ?)`, containerID, p.Service, p.ContainerPort, hp, userAdded)
		if err != nil {
			return 0, err
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
func (s *Service) ensurePorts(ctx context.Context, containerID int64) error {
	have := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT service FROM ports WHERE container_id = ?`, containerID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var svc string
		rows.Scan(&svc)
		have[svc] = true
	}
	rows.Close()
	for _, p := range s.services() {
		if !have[p.Service] {
			if _, err := s.allocPort(ctx, containerID, p, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// portsOf returns the published ports of containers by id.
func (s *Service) portsOf(ctx context.Context, ids ...int64) (map[int64][]Port, error) {
	out := map[int64][]Port{}
	if len(ids) == 0 {
		return out, nil
	}
	q := `SELECT container_id, service, container_port, host_port FROM ports`
	var args []any
	if len(ids) < 500 {
		q += ` WHERE container_id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY service`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var p Port
		if err := rows.Scan(&id, &p.Service, &p.ContainerPort, &p.HostPort); err != nil {
			return nil, err
		}
		out[id] = append(out[id], p)
	}
	return out, rows.Err()
}

// Mappings gives portmap the desired state: the ports of running
// containers that have an address, and the keys of running ones still
// waiting for one; key "owner/name" for one container, "" for all.
func (s *Service) Mappings(ctx context.Context, key string) ([]portmap.Mapping, []string, error) {
	var rs []row
	var ins []lxd.Instance
	if key == "" {
		var err error
		if rs, err = s.rows(ctx, ""); err != nil {
			return nil, nil, err
		}
		if ins, err = s.lxd.List(ctx, ""); err != nil {
			return nil, nil, err
		}
	} else {
		owner, name, _ := strings.Cut(key, "/")
		r, err := s.lookup(ctx, owner, name)
		if errors.Is(err, ErrNoSuch) {
			return nil, nil, nil // deleted: nothing is desired
		}
		if err != nil {
			return nil, nil, err
		}
		rs = []row{r}
		in, err := s.lxd.Get(ctx, s.Project(owner), name)
		if err != nil && !errors.Is(err, lxd.ErrNotFound) {
			return nil, nil, err
		}
		if err == nil {
			ins = []lxd.Instance{in}
		}
	}
	running := map[string]lxd.Instance{}
	for _, in := range ins {
		if in.Running {
			running[in.Project+"/"+in.Name] = in
		}
	}
	ports, err := s.portsOf(ctx, idsOf(rs)...)
	if err != nil {
		return nil, nil, err
	}
	var out []portmap.Mapping
	var pending []string
	for _, r := range rs {
		in, ok := running[s.Project(r.owner)+"/"+r.name]
		if !ok || r.state != "ready" {
			continue
		}
		if in.IPv4 == "" {
			pending = append(pending, r.owner+"/"+r.name)
			continue
		}
		for _, p := range ports[r.id] {
			out = append(out, portmap.Mapping{Owner: r.owner, Name: r.name, Service: p.Service, HostPort: p.HostPort,
				IP: in.IPv4, ContainerPort: p.ContainerPort})
		}
	}
	return out, pending, nil
}

// Pending reports whether a container runs but has no address yet, so its
// mappings must wait for DHCP.
func (s *Service) Pending(ctx context.Context, key string) bool {
	owner, name, _ := strings.Cut(key, "/")
	in, err := s.lxd.Get(ctx, s.Project(owner), name)
	return err == nil && in.Running && in.IPv4 == ""
}

var labelRE = nameRE

// PortAdd publishes another port of user's container under label.
func (s *Service) PortAdd(ctx context.Context, user, name string, containerPort int, label string) (Port, error) {
	if containerPort < 1 || containerPort > 65535 {
		return Port{}, fmt.Errorf("container port %d: use 1-65535", containerPort)
	}
	if label == "" {
		label = fmt.Sprintf("port%d", containerPort)
	}
	if !labelRE.MatchString(label) {
		return Port{}, fmt.Errorf("label %q: use letters, digits and '-', starting with a letter", label)
	}
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return Port{}, err
	}
	defer release()
	var added, same int
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM ports WHERE container_id = ? AND user_added = 1`, r.id).Scan(&added)
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM ports WHERE container_id = ? AND (service = ? OR container_port = ?)`,
		r.id, label, containerPort).Scan(&same)
	if same > 0 {
		return Port{}, fmt.Errorf("%s already publishes %q or port %d; see 'ports %s'", name, label, containerPort, name)
	}
	q, _, err := s.Quota(ctx, user)
	if err != nil {
		return Port{}, err
	}
	if added+1 > q.Ports {
		return Port{}, fmt.Errorf("%w: added ports would be %d, your limit per container is %d; 'port del' one first",
			ErrQuota, added+1, q.Ports)
	}
	p := Port{Service: label, ContainerPort: containerPort}
	if p.HostPort, err = s.allocPort(ctx, r.id, p, true); err != nil {
		return Port{}, err
	}
	failpoint.Hit("port:reserved")
	s.changed(user, name)
	return p, nil
}

// PortDel withdraws a port the user added.
func (s *Service) PortDel(ctx context.Context, user, name, label string) error {
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	res, err := s.db.ExecContext(ctx, `DELETE FROM ports WHERE container_id = ? AND service = ? AND user_added = 1`, r.id, label)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var cfg int
		s.db.QueryRowContext(ctx, `SELECT count(*) FROM ports WHERE container_id = ? AND service = ?`, r.id, label).Scan(&cfg)
		if cfg > 0 {
			return fmt.Errorf("%q is published for every container by the gateway's configuration and cannot be removed", label)
		}
		return fmt.Errorf("%s publishes no port %q; see 'ports %s'", name, label, name)
	}
	s.changed(user, name)
	return nil
}

// changed tells the port mapper that a container's state or ports changed.
func (s *Service) changed(user, name string) {
	if s.OnChange != nil {
		s.OnChange(user + "/" + name)
	}
}
