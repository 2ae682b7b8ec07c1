// Package containers owns users' containers: who owns which (SQLite), what
// they may have (quotas), and keeping LXD and the database in step. Each
// user's containers live in their own LXD project, so alice and bob may both
// own "dev", and LXD enforces the project limits as a second line.
package containers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/failpoint"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Errors callers match with errors.Is.
var (
	// ErrNoSuch is the one answer for a container that does not exist and
	// for one that belongs to someone else.
	ErrNoSuch  = errors.New("no such container")
	ErrBadName = errors.New("invalid container name")
	ErrQuota   = errors.New("quota exceeded")
	ErrExists  = errors.New("container already exists")
)

// LXD is the subset of the LXD adapter the service uses; lxd.Client and
// lxdtest.Fake satisfy it.
type LXD interface {
	EnsureProject(ctx context.Context, name string, l lxd.Limits) error
	Create(ctx context.Context, project string, spec lxd.Spec, progress func(string)) error
	Start(ctx context.Context, project, name string) error
	Stop(ctx context.Context, project, name string, force bool) error
	Restart(ctx context.Context, project, name string) error
	Delete(ctx context.Context, project, name string, force bool) error
	Get(ctx context.Context, project, name string) (lxd.Instance, error)
	List(ctx context.Context, project string) ([]lxd.Instance, error)
	Images(ctx context.Context) ([]lxd.Image, error)
	GPUs(ctx context.Context) ([]lxd.GPU, error)
	EnsureGPUProfile(ctx context.Context, p lxd.GPUProfile) error
	SecureNIC(ctx context.Context, project, name string) error
}

// Config is what the service needs from the configuration.
type Config struct {
	DefaultImage string
	Images       []string // allowlist; empty allows every image
	CPU          int
	Memory       int64
	Disk         int64
	Prefix       string // LXD project = Prefix + user name
	GPU          lxd.GPUProfile
	Quota        Quota          // default per-user quota
	Services     map[string]int // published for every container: name -> container port
	SnapshotKeep int            // unpinned snapshots kept per container
	PortFirst    int            // host port range
	PortLast     int
	// The most one create may ask for; zero: no cap.
	MaxCPU             int
	MaxMemory, MaxDisk int64
	SharedGPUs         bool // several containers may hold one GPU
}

// Quota is a user's limits, totals over all their containers.
type Quota struct {
	Containers int   `json:"containers"`
	CPU        int   `json:"cpu"`
	Memory     int64 `json:"memory"`
	Disk       int64 `json:"disk"`
	GPUs       int   `json:"gpus"`
	Ports      int   `json:"ports"` // ports a user may add to each container
	Snapshots  int   `json:"snapshots"`
}

// Port is a published port (filled by the port-mapping work).
type Port struct {
	Service       string `json:"service"`
	ContainerPort int    `json:"container_port"`
	HostPort      int    `json:"host_port"`
}

// Container is what list and details show. The JSON keys are stable.
type Container struct {
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	State     string    `json:"state"`
	IPv4      string    `json:"ipv4"`
	Image     string    `json:"image"`
	Created   time.Time `json:"created"`
	CPU       int       `json:"cpu"`
	Memory    int64     `json:"memory"`
	Disk      int64     `json:"disk"`
	GPUs      []string  `json:"gpus"`
	Ports     []Port    `json:"ports"`
	Snapshots int       `json:"snapshots"`
}

// CreateRequest asks for a new container; zero values take the defaults.
type CreateRequest struct {
	Name     string
	Image    string
	CPU      int
	Memory   int64
	Disk     int64
	GPU      string // "", "all", or a comma list of ids, UUIDs or PCI addresses
	Start    bool
	Progress func(string)
	copyOf   string // "NAME/SNAPSHOT" for a clone
}

// Service manages containers.
type Service struct {
	db  *sql.DB
	lxd LXD
	cfg Config
	log *slog.Logger

	users keyed // serialises quota checks and reservations per user
	boxes keyed // serialises operations per container

	projMu   sync.Mutex
	projects map[string]lxd.Limits // projects made sure of, with their limits

	// busy is held shared by every operation and exclusively by Reconcile,
	// so that a reconcile never mistakes a create in flight for a leftover.
	busy sync.RWMutex

	portMu sync.Mutex // serialises host port allocation
	gpuMu  sync.Mutex // makes the GPU check and the reservation one step

	// OnChange, when set, hears "owner/name" of a container whose state or
	// ports changed (the port mapper follows it).
	OnChange func(key string)
}

// New returns a Service.
func New(db *sql.DB, l LXD, cfg Config, log *slog.Logger) *Service {
	return &Service{db: db, lxd: l, cfg: cfg, log: log.With("component", "containers")}
}

// Project is the LXD project holding user's containers.
func (s *Service) Project(user string) string { return s.cfg.Prefix + user }

var nameRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// ValidName checks LXD's host-name rules, saying why a name is refused.
func ValidName(name string) error {
	switch {
	case strings.Contains(name, "_"):
		return fmt.Errorf("%w %q: '_' is not allowed, since the name becomes the container's host name; use '-'", ErrBadName, name)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%w %q: use 1-63 letters, digits and '-', starting with a letter and not ending with '-'", ErrBadName, name)
	}
	return nil
}

func (s *Service) userID(ctx context.Context, user string) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, user).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("no such user %s", user)
	}
	return id, err
}

type row struct {
	id            int64
	owner, name   string
	image, gpus   string
	cpu, gpuCount int
	memory, disk  int64
	state         string
	created       time.Time
}

const rowCols = `c.id, u.name, c.name, c.image, c.gpus, c.cpu, c.gpu_count, c.memory, c.disk, c.state, c.created_at`

func scanRow(sc interface{ Scan(...any) error }) (row, error) {
	var r row
	var at int64
	err := sc.Scan(&r.id, &r.owner, &r.name, &r.image, &r.gpus, &r.cpu, &r.gpuCount, &r.memory, &r.disk, &r.state, &at)
	r.created = time.Unix(at, 0).UTC()
	return r, err
}

// lookup finds user's container; another user's gets ErrNoSuch as well.
func (s *Service) lookup(ctx context.Context, user, name string) (row, error) {
	r, err := scanRow(s.db.QueryRowContext(ctx, `SELECT `+rowCols+` FROM containers c JOIN users u ON u.id = c.user_id
		WHERE u.name = ? AND c.name = ? AND c.state != 'deleting'`, user, name))
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, fmt.Errorf("%w %q (see 'list')", ErrNoSuch, name)
	}
	return r, err
}

func (s *Service) rows(ctx context.Context, user string) ([]row, error) {
	q := `SELECT ` + rowCols + ` FROM containers c JOIN users u ON u.id = c.user_id`
	var args []any
	if user != "" {
		q += ` WHERE u.name = ?`
		args = append(args, user)
	}
	rs, err := s.db.QueryContext(ctx, q+` ORDER BY u.name, c.name`, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		r, err := scanRow(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// Images lists the images users may launch.
func (s *Service) Images(ctx context.Context) ([]lxd.Image, error) {
	all, err := s.lxd.Images(ctx)
	if err != nil {
		return nil, err
	}
	if len(s.cfg.Images) == 0 {
		return all, nil
	}
	var out []lxd.Image
	for _, im := range all {
		if slices.Contains(s.cfg.Images, im.Alias) {
			out = append(out, im)
		}
	}
	return out, nil
}

// Create reserves the container in the database under the user's quota,
// then creates it in LXD; a failure undoes the reservation, and a kill in
// between is settled by Reconcile.
func (s *Service) Create(ctx context.Context, user string, req CreateRequest) (Container, error) {
	if err := ValidName(req.Name); err != nil {
		return Container{}, err
	}
	if req.Image == "" {
		req.Image = s.cfg.DefaultImage
	}
	if req.CPU == 0 {
		req.CPU = s.cfg.CPU
	}
	if req.Memory == 0 {
		req.Memory = s.cfg.Memory
	}
	if req.Disk == 0 {
		req.Disk = s.cfg.Disk
	}
	if err := s.checkCaps(req); err != nil {
		return Container{}, err
	}
	if req.copyOf == "" {
		if err := s.checkImage(req.Image); err != nil {
			return Container{}, err
		}
	}
	spec := lxd.Spec{Name: req.Name, Image: req.Image, CPU: req.CPU, Memory: req.Memory, Disk: req.Disk, Start: req.Start, CopyOf: req.copyOf}
	gpus, gpuCount, err := s.pickGPUs(ctx, req.GPU, &spec)
	if err != nil {
		return Container{}, err
	}
	req.GPU = strings.Join(gpus, ",") // recorded resolved: PCI addresses, or "all"
	s.busy.RLock()
	defer s.busy.RUnlock()
	quota, err := s.reserve(ctx, user, req, gpuCount)
	if err != nil {
		return Container{}, err
	}
	failpoint.Hit("create:reserved")
	if req.Progress != nil {
		req.Progress("Creating " + req.Name)
	}
	unlock := s.boxes.lock(user + "/" + req.Name)
	defer unlock()
	project := s.Project(user)
	if err := s.ensureProject(ctx, project, limitsOf(quota)); err != nil {
		s.unreserve(user, req.Name)
		return Container{}, fmt.Errorf("create %s: %w", req.Name, err)
	}
	err = s.lxd.Create(ctx, project, spec, req.Progress)
	if errors.Is(err, lxd.ErrProjectMissing) {
		// Deleted behind our back since we last made sure of it.
		s.forgetProject(project)
		if err = s.ensureProject(ctx, project, limitsOf(quota)); err == nil {
			err = s.lxd.Create(ctx, project, spec, req.Progress)
		}
	}
	if err != nil {
		s.unreserve(user, req.Name)
		if errors.Is(err, lxd.ErrExists) {
			return Container{}, fmt.Errorf("%w: you already have %q", ErrExists, req.Name)
		}
		if errors.Is(err, lxd.ErrImageNotFound) {
			return Container{}, fmt.Errorf("no image %q that you may use; see 'images'", req.Image)
		}
		if errors.Is(err, lxd.ErrLimit) {
			return Container{}, fmt.Errorf("create %s: %w (LXD project limit); see 'quota'", req.Name, ErrQuota)
		}
		if errors.Is(err, context.Canceled) {
			return Container{}, fmt.Errorf("create %s: cancelled; nothing was kept", req.Name)
		}
		return Container{}, fmt.Errorf("create %s: %w", req.Name, err)
	}
	failpoint.Hit("create:made")
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE containers SET state = 'ready'
		WHERE name = ? AND user_id = (SELECT id FROM users WHERE name = ?)`, req.Name, user); err != nil {
		// LXD has it; Reconcile adopts it at the next start.
		s.log.Error("mark ready failed", "user", user, "name", req.Name, "err", err)
	}
	// Built from what was asked rather than read back: the address comes
	// by DHCP after the start anyway, and a launch saves a round trip.
	state := "stopped"
	if req.Start {
		state = "running"
	}
	c := Container{Name: req.Name, Owner: user, State: state, Image: req.Image, Created: time.Now().UTC(), CPU: req.CPU,
		Memory: req.Memory, Disk: req.Disk, GPUs: []string{}, Ports: []Port{}}
	if req.GPU != "" {
		c.GPUs = strings.Split(req.GPU, ",")
	}
	if r, err := s.lookup(context.WithoutCancel(ctx), user, req.Name); err == nil {
		if ps, err := s.portsOf(context.WithoutCancel(ctx), r.id); err == nil && ps[r.id] != nil {
			c.Ports = ps[r.id]
		}
	}
	if req.Start {
		s.changed(user, req.Name)
	}
	return c, nil
}

// checkCaps bounds one request, whatever the quota: a huge value must not
// reach the quota sums or LXD.
func (s *Service) checkCaps(req CreateRequest) error {
	switch {
	case req.CPU < 0 || req.Memory < 0 || req.Disk < 0:
		return errors.New("cpu, memory and disk must be positive")
	case s.cfg.MaxCPU > 0 && req.CPU > s.cfg.MaxCPU:
		return fmt.Errorf("cpu %d: at most %d for one container", req.CPU, s.cfg.MaxCPU)
	case s.cfg.MaxMemory > 0 && req.Memory > s.cfg.MaxMemory:
		return fmt.Errorf("memory %s: at most %s for one container", units.FormatSize(req.Memory), units.FormatSize(s.cfg.MaxMemory))
	case s.cfg.MaxDisk > 0 && req.Disk > s.cfg.MaxDisk:
		return fmt.Errorf("disk %s: at most %s for one container", units.FormatSize(req.Disk), units.FormatSize(s.cfg.MaxDisk))
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

// checkImage applies the allowlist; whether the image exists LXD answers
// at create, before it makes anything (saving a round trip per launch).
func (s *Service) checkImage(image string) error {
	if len(s.cfg.Images) > 0 && !slices.Contains(s.cfg.Images, image) {
		return fmt.Errorf("no image %q that you may use; see 'images'", image)
	}
	return nil
}

// reserve checks the quota and records the container as "creating", under
// the user's lock so that two sessions cannot both take the last slot.
func (s *Service) reserve(ctx context.Context, user string, req CreateRequest, gpus int) (Quota, error) {
	unlock := s.users.lock(user)
	defer unlock()
	uid, err := s.userID(ctx, user)
	if err != nil {
		return Quota{}, err
	}
	var dup int
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM containers WHERE user_id = ? AND name = ?`, uid, req.Name).Scan(&dup)
	if dup > 0 {
		return Quota{}, fmt.Errorf("%w: you already have %q", ErrExists, req.Name)
	}
	if req.GPU != "" && !s.cfg.SharedGPUs {
		// GPUs are shared by all users: their check and the insert below
		// are one step under a lock of their own.
		s.gpuMu.Lock()
		defer s.gpuMu.Unlock()
		if err := s.gpusFree(ctx, req.GPU); err != nil {
			return Quota{}, err
		}
	}
	q, use, err := s.Quota(ctx, user)
	if err != nil {
		return Quota{}, err
	}
	check := func(what string, have, add, limit int64, format func(int64) string) error {
		// Compared without the sum, which could overflow: all three are
		// non-negative, and have may exceed a lowered limit.
		if add > limit-have {
			return fmt.Errorf("%w: %s would be %s, your limit is %s (in use: %s); ask an admin or free some", ErrQuota,
				what, format(satAdd(have, add)), format(limit), format(have))
		}
		return nil
	}
	num := func(n int64) string { return fmt.Sprint(n) }
	for _, err := range []error{
		check("containers", int64(use.Containers), 1, int64(q.Containers), num),
		check("cpu", int64(use.CPU), int64(req.CPU), int64(q.CPU), num),
		check("memory", use.Memory, req.Memory, q.Memory, units.FormatSize),
		check("disk", use.Disk, req.Disk, q.Disk, units.FormatSize),
		check("gpus", int64(use.GPUs), int64(gpus), int64(q.GPUs), num),
	} {
		if err != nil {
			return Quota{}, err
		}
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO containers (user_id, name, image, cpu, memory, disk, gpus, gpu_count, state, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'creating', ?)`, uid, req.Name, req.Image, req.CPU, req.Memory, req.Disk, req.GPU, gpus, time.Now().Unix())
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return Quota{}, fmt.Errorf("%w: you already have %q", ErrExists, req.Name)
	}
	if err != nil {
		return Quota{}, err
	}
	// Host ports are reserved with the container and kept for its life.
	id, _ := res.LastInsertId()
	if err := s.ensurePorts(ctx, id); err != nil {
		s.db.Exec(`DELETE FROM containers WHERE id = ?`, id) // ports go with it (cascade)
		return Quota{}, fmt.Errorf("create %s: %w", req.Name, err)
	}
	return q, nil
}

// satAdd adds non-negative numbers, stopping at the largest int64.
func satAdd(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

func (s *Service) unreserve(user, name string) {
	_, err := s.db.Exec(`DELETE FROM containers WHERE name = ? AND state = 'creating'
		AND user_id = (SELECT id FROM users WHERE name = ?)`, name, user)
	if err != nil {
		s.log.Error("drop reservation failed; reconcile will", "user", user, "name", name, "err", err)
	}
}

func limitsOf(q Quota) lxd.Limits {
	return lxd.Limits{Instances: q.Containers, CPU: q.CPU, Memory: q.Memory, Disk: q.Disk}
}

// Start starts user's container.
func (s *Service) Start(ctx context.Context, user, name string) error {
	return s.act(ctx, user, name, "start", func(p string) error {
		err := s.lxd.Start(ctx, p, name)
		if errors.Is(err, lxd.ErrRunning) {
			return fmt.Errorf("%s is already running", name)
		}
		return err
	})
}

// Stop stops user's container, cleanly unless force.
func (s *Service) Stop(ctx context.Context, user, name string, force bool) error {
	return s.act(ctx, user, name, "stop", func(p string) error {
		err := s.lxd.Stop(ctx, p, name, force)
		if errors.Is(err, lxd.ErrNotRunning) {
			return fmt.Errorf("%s is not running", name)
		}
		return err
	})
}

// Restart restarts user's running container.
func (s *Service) Restart(ctx context.Context, user, name string) error {
	return s.act(ctx, user, name, "restart", func(p string) error {
		err := s.lxd.Restart(ctx, p, name)
		if errors.Is(err, lxd.ErrNotRunning) {
			return fmt.Errorf("%s is not running; use 'start %s'", name, name)
		}
		return err
	})
}

// hold looks up user's container and holds it for one operation; release
// must be called.
func (s *Service) hold(ctx context.Context, user, name string) (_ row, _ func(), err error) {
	s.busy.RLock()
	unlock := s.boxes.lock(user + "/" + name)
	release := func() { unlock(); s.busy.RUnlock() }
	// Deferred, so that a panic below (in LXD's adapter, say) releases too:
	// a held lock would block the container and every reconcile for good.
	defer releaseUnless(&err, release)
	r, err := s.lookup(ctx, user, name)
	if err == nil && r.state == "creating" {
		err = fmt.Errorf("%s is still being created; try again in a moment", name)
	}
	if err != nil {
		return row{}, nil, err
	}
	return r, release, nil
}

// releaseUnless releases when the function it is deferred in fails or
// panics, and leaves the hold to the caller when it returns without error.
func releaseUnless(err *error, release func()) {
	if r := recover(); r != nil {
		release()
		panic(r)
	}
	if *err != nil {
		release()
	}
}

func (s *Service) act(ctx context.Context, user, name, verb string, f func(project string) error) error {
	_, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	if err := f(s.Project(user)); err != nil {
		if errors.Is(err, lxd.ErrNotFound) {
			return fmt.Errorf("%w %q (see 'list')", ErrNoSuch, name)
		}
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	failpoint.Hit(verb + ":done")
	s.changed(user, name)
	return nil
}

// Delete deletes user's container; a running one needs force.
func (s *Service) Delete(ctx context.Context, user, name string, force bool) error {
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return err
	}
	defer release()
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	exists := err == nil
	switch {
	case errors.Is(err, lxd.ErrNotFound):
		// Gone behind our back: only the row is left to drop.
	case err != nil:
		return fmt.Errorf("delete %s: %w", name, err)
	case in.Running && !force:
		return fmt.Errorf("%s is running; stop it first or use --force", name)
	}
	// Mark first: a kill between the two steps is finished by Reconcile.
	if _, err := s.db.ExecContext(ctx, `UPDATE containers SET state = 'deleting' WHERE id = ?`, r.id); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	failpoint.Hit("delete:marked")
	if exists {
		if derr := s.lxd.Delete(context.WithoutCancel(ctx), s.Project(user), name, force); derr != nil && !errors.Is(derr, lxd.ErrNotFound) {
			s.db.Exec(`UPDATE containers SET state = 'ready' WHERE id = ?`, r.id)
			if errors.Is(derr, lxd.ErrRunning) {
				return fmt.Errorf("%s is running; stop it first or use --force", name)
			}
			return fmt.Errorf("delete %s: %w", name, derr)
		}
	}
	failpoint.Hit("delete:gone")
	_, err = s.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM containers WHERE id = ?`, r.id)
	s.changed(user, name) // its ports went with the row; the rules go now
	return err
}

// Get returns user's container.
func (s *Service) Get(ctx context.Context, user, name string) (Container, error) {
	r, err := s.lookup(ctx, user, name)
	if err != nil {
		return Container{}, err
	}
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	if err != nil && !errors.Is(err, lxd.ErrNotFound) {
		return Container{}, err
	}
	c := merge(r, in, err == nil)
	ports, err := s.portsOf(ctx, r.id)
	if err != nil {
		return Container{}, err
	}
	if ports[r.id] != nil {
		c.Ports = ports[r.id]
	}
	return c, nil
}

// List returns user's containers, or everyone's with all.
func (s *Service) List(ctx context.Context, user string, all bool) ([]Container, error) {
	who := user
	if all {
		who = ""
	}
	rs, err := s.rows(ctx, who)
	if err != nil {
		return nil, err
	}
	project := s.Project(user)
	if all {
		project = ""
	}
	ins, err := s.lxd.List(ctx, project)
	if err != nil && !errors.Is(err, lxd.ErrProjectMissing) {
		return nil, err
	}
	byKey := map[string]lxd.Instance{}
	for _, in := range ins {
		byKey[in.Project+"/"+in.Name] = in
	}
	ports, err := s.portsOf(ctx, idsOf(rs)...)
	if err != nil {
		return nil, err
	}
	out := []Container{}
	for _, r := range rs {
		if r.state == "deleting" {
			continue
		}
		in, ok := byKey[s.Project(r.owner)+"/"+r.name]
		c := merge(r, in, ok)
		if ports[r.id] != nil {
			c.Ports = ports[r.id]
		}
		out = append(out, c)
	}
	return out, nil
}

// Names lists user's container names, for completion.
func (s *Service) Names(ctx context.Context, user string) []string {
	rs, _ := s.rows(ctx, user)
	var out []string
	for _, r := range rs {
		if r.state == "ready" {
			out = append(out, r.name)
		}
	}
	return out
}

func idsOf(rs []row) []int64 {
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	return ids
}

func merge(r row, in lxd.Instance, found bool) Container {
	c := Container{Name: r.name, Owner: r.owner, Image: r.image, Created: r.created, CPU: r.cpu, Memory: r.memory,
		Disk: r.disk, GPUs: []string{}, Ports: []Port{}, State: "missing"}
	if r.state == "creating" {
		c.State = "creating"
	}
	if r.gpus != "" {
		c.GPUs = strings.Split(r.gpus, ",")
	}
	if found {
		c.State = strings.ToLower(in.Status)
		c.IPv4, c.Snapshots = in.IPv4, in.Snapshots
		if in.CPU > 0 {
			c.CPU = in.CPU
		}
		if in.Memory > 0 {
			c.Memory = in.Memory
		}
	}
	return c
}

// Usage is what a user's containers take now.
type Usage = Quota

// Quota returns user's quota and current use.
func (s *Service) Quota(ctx context.Context, user string) (Quota, Usage, error) {
	q := s.cfg.Quota
	var c, cpu, mem, disk, gpus, ports, snaps sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT q.containers, q.cpu, q.memory, q.disk, q.gpus, q.ports, q.snapshots FROM quotas q
		JOIN users u ON u.id = q.user_id WHERE u.name = ?`, user).Scan(&c, &cpu, &mem, &disk, &gpus, &ports, &snaps)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return q, Usage{}, err
	}
	if c.Valid {
		q.Containers = int(c.Int64)
	}
	if cpu.Valid {
		q.CPU = int(cpu.Int64)
	}
	if mem.Valid {
		q.Memory = mem.Int64
	}
	if disk.Valid {
		q.Disk = disk.Int64
	}
	if gpus.Valid {
		q.GPUs = int(gpus.Int64)
	}
	if ports.Valid {
		q.Ports = int(ports.Int64)
	}
	if snaps.Valid {
		q.Snapshots = int(snaps.Int64)
	}
	var u Usage
	err = s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(c.cpu), 0), coalesce(sum(c.memory), 0),
		coalesce(sum(c.disk), 0), coalesce(sum(c.gpu_count), 0) FROM containers c JOIN users u ON u.id = c.user_id
		WHERE u.name = ?`, user).Scan(&u.Containers, &u.CPU, &u.Memory, &u.Disk, &u.GPUs)
	return q, u, err
}

// QuotaChange sets the given (non-nil) fields of a user's quota.
type QuotaChange struct {
	Containers, CPU, GPUs, Ports, Snapshots *int
	Memory, Disk                            *int64
}

// SetQuota changes user's quota and, when LXD answers, the project limits.
func (s *Service) SetQuota(ctx context.Context, user string, ch QuotaChange) (Quota, error) {
	uid, err := s.userID(ctx, user)
	if err != nil {
		return Quota{}, err
	}
	for _, v := range []*int{ch.Containers, ch.CPU, ch.GPUs, ch.Ports, ch.Snapshots} {
		if v != nil && *v < 0 {
			return Quota{}, errors.New("quota values must not be negative")
		}
	}
	for _, v := range []*int64{ch.Memory, ch.Disk} {
		if v != nil && *v < 0 {
			return Quota{}, errors.New("quota values must not be negative")
		}
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO quotas (user_id, containers, cpu, memory, disk, gpus, ports, snapshots)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET containers = coalesce(excluded.containers, containers),
		cpu = coalesce(excluded.cpu, cpu), memory = coalesce(excluded.memory, memory),
		disk = coalesce(excluded.disk, disk), gpus = coalesce(excluded.gpus, gpus), ports = coalesce(excluded.ports, ports),
		snapshots = coalesce(excluded.snapshots, snapshots)`,
		uid, ch.Containers, ch.CPU, ch.Memory, ch.Disk, ch.GPUs, ch.Ports, ch.Snapshots)
	if err != nil {
		return Quota{}, fmt.Errorf("set quota of %s: %w", user, err)
	}
	q, _, err := s.Quota(ctx, user)
	if err != nil {
		return q, err
	}
	if rs, _ := s.rows(ctx, user); len(rs) > 0 {
		// The project exists only once the user has containers; a new one
		// gets these limits when it is made.
		if err := s.ensureProject(ctx, s.Project(user), limitsOf(q)); err != nil {
			s.log.Warn("project limits not updated; they will be at the next create", "user", user, "err", err)
		}
	}
	return q, nil
}

// Prepare brings LXD's shared state (the GPU profile) to what the
// configuration describes.
func (s *Service) Prepare(ctx context.Context) error {
	return s.lxd.EnsureGPUProfile(ctx, s.cfg.GPU)
}

// Reconcile makes the database and LXD agree after a crash or changes made
// behind the gateway's back: an instance in a user's project without a row
// is adopted, an interrupted create is kept, an interrupted delete is
// finished, and a row without an instance is dropped.
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
		byKey[s.Project(r.owner)+"/"+r.name] = r
	}
	seen := map[string]bool{}
	for _, in := range ins {
		if !strings.HasPrefix(in.Project, s.cfg.Prefix) {
			continue
		}
		key := in.Project + "/" + in.Name
		seen[key] = true
		owner := strings.TrimPrefix(in.Project, s.cfg.Prefix)
		if in.Unfiltered() {
			// Made before lxcgate filtered NICs, or by hand: without the
			// filter the container could use another address.
			if err := s.lxd.SecureNIC(ctx, in.Project, in.Name); err != nil {
				s.log.Error("reconcile: could not turn on address filtering", "owner", owner, "name", in.Name, "err", err)
			} else {
				s.log.Info("reconcile: turned on MAC and IPv4 filtering", "owner", owner, "name", in.Name)
			}
		}
		r, ok := byKey[key]
		switch {
		case !ok:
			uid, err := s.userID(ctx, owner)
			if err != nil {
				s.log.Warn("reconcile: instance of an unknown user left alone", "project", in.Project, "name", in.Name)
				continue
			}
			gpus := strings.Join(in.GPUs, ",")
			_, err = s.db.ExecContext(ctx, `INSERT INTO containers (user_id, name, image, cpu, memory, disk, gpus, gpu_count, state, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ready', ?)`, uid, in.Name, in.Image, in.CPU, in.Memory, in.Disk, gpus, len(in.GPUs), in.Created.Unix())
			if err != nil {
				return fmt.Errorf("reconcile: adopt %s: %w", key, err)
			}
			s.log.Info("reconcile: adopted an instance without a row", "owner", owner, "name", in.Name)
		case r.state == "creating":
			s.db.ExecContext(ctx, `UPDATE containers SET state = 'ready' WHERE id = ?`, r.id)
			s.log.Info("reconcile: kept a container whose create was interrupted", "owner", owner, "name", in.Name)
		case r.state == "deleting":
			if err := s.lxd.Delete(ctx, in.Project, in.Name, true); err != nil && !errors.Is(err, lxd.ErrNotFound) {
				s.log.Error("reconcile: finishing a delete failed", "owner", owner, "name", in.Name, "err", err)
				continue
			}
			s.db.ExecContext(ctx, `DELETE FROM containers WHERE id = ?`, r.id)
			s.log.Info("reconcile: finished an interrupted delete", "owner", owner, "name", in.Name)
		}
	}
	for key, r := range byKey {
		if !seen[key] {
			s.db.ExecContext(ctx, `DELETE FROM containers WHERE id = ?`, r.id)
			s.log.Warn("reconcile: dropped a row whose instance is gone", "owner", r.owner, "name", r.name, "state", r.state)
		}
	}
	// Every container has every configured service: adopted ones, and all
	// of them after an admin adds a service.
	rs, err = s.rows(ctx, "")
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, r := range rs {
		if r.state == "ready" {
			if err := s.ensurePorts(ctx, r.id); err != nil {
				s.log.Error("reconcile: reserving ports failed", "owner", r.owner, "name", r.name, "err", err)
			}
		}
	}
	return nil
}

// keyed is a set of mutexes by key, created on use and dropped when free.
type keyed struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// lock waits for key and returns its unlock.
func (k *keyed) lock(key string) func() {
	e := k.ref(key)
	e.mu.Lock()
	return func() { e.mu.Unlock(); k.unref(key, e) }
}

// tryLock is lock that gives up at once when the key is held.
func (k *keyed) tryLock(key string) (func(), bool) {
	e := k.ref(key)
	if !e.mu.TryLock() {
		k.unref(key, e)
		return nil, false
	}
	return func() { e.mu.Unlock(); k.unref(key, e) }, true
}

func (k *keyed) ref(key string) *keyedEntry {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	return e
}

func (k *keyed) unref(key string, e *keyedEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(k.m, key)
	}
}
