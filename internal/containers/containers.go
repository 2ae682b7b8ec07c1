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
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/nvsmi"
	"github.com/lxcgate/lxcgate/internal/quota"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/store"
)

// Errors callers match with errors.Is. Their text says what is wrong, in
// the domain's words; what to type next is the caller's to add (the shell
// names its commands, the host CLI its own).
var (
	// ErrNoSuch is the one answer for a container that does not exist and
	// for one that belongs to someone else; it is LXD's own "not found".
	ErrNoSuch  = lxd.ErrNotFound
	ErrBadName = errors.New("invalid container name")
	ErrQuota   = errors.New("quota exceeded")
	ErrExists  = errors.New("container already exists")
	// ErrStopped: the operation needs the container running.
	ErrStopped    = errors.New("container is stopped")
	ErrNoImage    = errors.New("no such image")
	ErrNoGPU      = errors.New("no such GPU")
	ErrGPUHeld    = errors.New("GPU held by another container")
	ErrNoSnapshot = errors.New("no such snapshot")
	ErrPortUsed   = errors.New("port already published")
	ErrNoPortRule = errors.New("no such published port")
	ErrNoKey      = errors.New("no such key")
	// ErrExpired: the container's lease ran out; renew it to start it.
	ErrExpired = errors.New("lease ran out")
	// ErrRenewed: an automatic stop for an expired lease found the lease
	// renewed since the sweep read it; the container was left alone.
	ErrRenewed = errors.New("lease renewed")
	// ErrUnreachable: the container's cluster member does not answer.
	ErrUnreachable = errors.New("unreachable")
	ErrNoHost      = errors.New("no such cluster member")
)

// Error is a domain error about one container: it matches its Kind with
// errors.Is and names the container, so that a caller can point the user
// to the right command.
type Error struct {
	Kind error
	Name string // the container
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, name, format string, a ...any) error {
	return &Error{Kind: kind, Name: name, Msg: fmt.Sprintf(format, a...)}
}

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
	// SetGPUs makes an instance's GPU devices exactly w's.
	SetGPUs(ctx context.Context, project, name string, w lxd.GPUWant) (bool, error)
	Access
	Volumer
	Snapshotter
	Cluster
}

// Cluster is what placement needs of an LXD cluster; a single host has
// no members.
type Cluster interface {
	// Members is nil when LXD is not a cluster.
	Members(ctx context.Context) ([]lxd.Member, error)
	MemberResources(ctx context.Context, member string) (lxd.Resources, error)
	Move(ctx context.Context, project, name, member string) error
	SetRouted(ctx context.Context, project, name, addr string) error
}

// The adapter satisfies the service's needs; the build says so, not a user.
var _ LXD = (*lxd.Client)(nil)

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
	WebApps      map[string]int // web apps of every container: label -> container port
	// AppURL is where a web app is reached (the apps listener's address
	// for it); nil: web apps are off.
	AppURL       func(owner, name, label string) string
	SnapshotKeep int // unpinned snapshots kept per container
	PortFirst    int // host port range
	PortLast     int
	// The most one create may ask for; zero: no cap.
	MaxCPU             int
	MaxMemory, MaxDisk int64
	SharedGPUs         bool // several containers may hold one GPU
	MIG                bool // GPUs split into MIG devices are offered as those devices
	// LeaseDefault is a new container's lease (0: none); LeaseMax caps
	// what a user may ask for (0: no cap).
	LeaseDefault, LeaseMax time.Duration
	// VolumePool is the LXD pool of users' volumes; VolumeDefaultSize and
	// VolumeMaxSize bound their sizes (0: no cap); PersonalPath, when set,
	// is where every container of a user gets their volume "home".
	VolumePool                       string
	VolumeDefaultSize, VolumeMaxSize int64
	PersonalPath                     string
	// Datasets are the host directories offered to containers, by name.
	Datasets map[string]Dataset
	// ContainerUser is who a login into a container runs as when the login
	// names no one (alice+box); StartOnLogin starts a stopped container
	// on such a login instead of refusing it.
	ContainerUser string
	StartOnLogin  bool
	// The GPU queue: the fair-share window, when a request counts as
	// starved, and the cap on renewals while anyone waits.
	FairshareWindow, StarvationAfter, RenewWhileWaiting time.Duration
	// OnChange, when set, hears of a container whose state or ports
	// changed (the port mapper follows it), before the command returns.
	OnChange func(ref.Ref)
}

// Quota is a user's limits, totals over all their containers.
type Quota = quota.Quota

// Port is a published port (filled by the port-mapping work).
type Port struct {
	Service       string `json:"service"`
	ContainerPort int    `json:"container_port"`
	HostPort      int    `json:"host_port"` // 0 for a web app
	// Web marks a web app: served through the gateway's apps listener
	// at URL, on no host port.
	Web bool   `json:"web,omitempty"`
	URL string `json:"url,omitempty"`
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
	// Host is the cluster member it is on ("" on a single host).
	Host string `json:"host,omitempty"`
	// Placement says why a new container went to its member.
	Placement string `json:"placement,omitempty"`
	// Expires is when its lease runs out (UTC); absent without a lease.
	Expires *time.Time `json:"expires,omitempty"`
	// Reason says why the gateway stopped it: "idle" or "expired".
	Reason string `json:"reason,omitempty"`
}

// CreateRequest asks for a new container; zero values take the defaults.
type CreateRequest struct {
	Name     string
	Image    string
	CPU      int
	Memory   int64
	Disk     int64
	GPU      string        // "", "all", or a comma list of ids, UUIDs or PCI addresses
	GPUs     int           // any this many GPUs, whichever are free (instead of GPU)
	Host     string        // the cluster member to create on; "" lets placement choose
	Lease    time.Duration // 0: the configured default
	Start    bool
	Progress func(string)
	// Volumes and Datasets are attached from the start.
	Volumes  []VolumeMount
	Datasets []string
	copyOf   string // "NAME/SNAPSHOT" for a clone
	hostFrom string // the volume that chose Host, when one did
}

// Service manages containers. What must be one step in the database (a
// quota check and its reservation, a GPU check, a host port scan and its
// insert) is one store.Tx, which holds SQLite's write lock: it holds
// across processes too, where an in-process lock would not.
type Service struct {
	db  *sql.DB
	st  *store.Store
	lxd LXD
	cfg atomic.Pointer[Config] // swapped whole by Reconfigure; read through conf
	log *slog.Logger

	boxes keyed     // serialises operations per container
	addrs addresses // routed addresses held by creates in flight
	ready readiness // watches for the addresses DHCP hands out

	projMu   sync.Mutex
	projects map[string]lxd.Limits // projects made sure of, with their limits

	// busy is held shared by every operation and exclusively by Reconcile,
	// so that a reconcile never mistakes a create in flight for a leftover.
	busy sync.RWMutex

	inv    inventory   // what the last full reconcile saw, for monitoring
	open   openEntries // sessions open into containers (alice+box)
	appUse appUse      // web app requests by container, for the idle stop
	queueState
	notify   func(ctx context.Context, user, kind, dedupe, text string) // SetNotify's; may be nil
	gpuStats func(ctx context.Context) (map[string]GPUStat, error)      // SetGPUStats's: the local GPUs' use; may be nil
	migs     func(ctx context.Context) (map[string][]nvsmi.MIG, error)  // SetMIG's: MIG devices by their GPU's PCI address
	accounts accountCache                                               // their users, as the containers' /etc/passwd said

	// checked, when set, runs in the reservation's transaction between the
	// checks and the insert: tests widen the window a race would need.
	checked func()
}

// New returns a Service.
func New(db *sql.DB, l LXD, cfg Config, log *slog.Logger) *Service {
	s := &Service{db: db, st: store.New(), lxd: l, log: log.With("component", "containers")}
	s.queueKick = make(chan struct{}, 1)
	s.cfg.Store(&cfg)
	return s
}

// conf is the configuration now in force. A caller reads it once per
// decision where two fields must agree.
func (s *Service) conf() *Config { return s.cfg.Load() }

// Reconfigure applies the parts of next that may change while serving:
// container defaults and caps, the images allowlist, the default quota,
// the published services, snapshot keeping, volume sizes and datasets.
// The project prefix, the port range, the GPU profile and sharing, the
// volume pool, the personal volume's path and OnChange stay as they
// were; they need a restart. Containers gain a newly configured service
// at the next Reconcile.
func (s *Service) Reconfigure(next Config) {
	old := s.conf()
	c := *old
	c.DefaultImage, c.Images = next.DefaultImage, slices.Clone(next.Images)
	c.CPU, c.Memory, c.Disk = next.CPU, next.Memory, next.Disk
	c.MaxCPU, c.MaxMemory, c.MaxDisk = next.MaxCPU, next.MaxMemory, next.MaxDisk
	c.Quota = next.Quota
	c.Services = maps.Clone(next.Services)
	c.WebApps = maps.Clone(next.WebApps)
	c.FairshareWindow, c.StarvationAfter, c.RenewWhileWaiting = next.FairshareWindow, next.StarvationAfter, next.RenewWhileWaiting
	c.SnapshotKeep = next.SnapshotKeep
	c.LeaseDefault, c.LeaseMax = next.LeaseDefault, next.LeaseMax
	c.VolumeDefaultSize, c.VolumeMaxSize = next.VolumeDefaultSize, next.VolumeMaxSize
	c.Datasets = maps.Clone(next.Datasets)
	c.ContainerUser, c.StartOnLogin = next.ContainerUser, next.StartOnLogin
	s.cfg.Store(&c)
}

// Project is the LXD project holding user's containers.
func (s *Service) Project(user string) string { return s.conf().Prefix + user }

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

// userID finds a user through the users table.
func (s *Service) userID(ctx context.Context, q store.Querier, user string) (store.UserID, error) {
	id, err := s.st.Users.ID(ctx, q, user)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("no such user %s", user)
	}
	if err != nil {
		return 0, fmt.Errorf("look up user %s: %w", user, err)
	}
	return id, nil
}

// row is a container as the database holds it.
type row = store.Container

// lookup finds user's container; another user's gets ErrNoSuch as well.
func (s *Service) lookup(ctx context.Context, user, name string) (row, error) {
	r, err := s.st.Containers.Get(ctx, s.db, user, name)
	if errors.Is(err, store.ErrNotFound) {
		return row{}, errorf(ErrNoSuch, name, "no such container %q", name)
	}
	if err != nil {
		return row{}, fmt.Errorf("look up %s: %w", name, err)
	}
	return r, nil
}

// rows lists user's containers in every state, or everyone's for "".
func (s *Service) rows(ctx context.Context, user string) ([]row, error) {
	rs, err := s.st.Containers.List(ctx, s.db, user)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return rs, nil
}

// Images lists the images users may launch.
func (s *Service) Images(ctx context.Context) ([]lxd.Image, error) {
	all, err := s.lxd.Images(ctx)
	if err != nil {
		return nil, err
	}
	if len(s.conf().Images) == 0 {
		return all, nil
	}
	var out []lxd.Image
	for _, im := range all {
		if slices.Contains(s.conf().Images, im.Alias) {
			out = append(out, im)
		}
	}
	return out, nil
}

// owner is the user whose project this is, if it is one of lxcgate's.
func (s *Service) owner(project string) (string, bool) {
	user, ok := strings.CutPrefix(project, s.conf().Prefix)
	return user, ok && user != ""
}
