// Package lxd adapts the LXD client to the few things lxcgate does with it,
// in lxcgate's own types: no shared/api type leaves this package. It waits
// on every operation with the caller's context, turns LXD errors into
// sentinels with one-line messages, and reconnects after a daemon restart.
package lxd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Errors callers match with errors.Is.
var (
	ErrNotFound       = errors.New("no such container")
	ErrExists         = errors.New("container already exists")
	ErrRunning        = errors.New("container is running")
	ErrNotRunning     = errors.New("container is not running")
	ErrUnavailable    = errors.New("LXD is not reachable right now; try again in a minute")
	ErrLimit          = errors.New("LXD refused: a project limit was reached")
	ErrImageNotFound  = errors.New("no such image")
	ErrProjectMissing = errors.New("no such project")
	ErrNoFile         = errors.New("no such file or directory in the container")
	// ErrDNSName: LXD refuses two running instances of one name on a bridge
	// that publishes DNS records, even in different projects.
	ErrDNSName = errors.New("another user's running container has this name on the shared bridge; " +
		"the admin can allow it with 'lxc network set BRIDGE dns.mode=none'")
)

// Instance is a container as lxcgate shows it.
type Instance struct {
	Name    string
	Project string
	Running bool
	Status  string // as LXD says it: Running, Stopped, ...
	// IPv4 is the bridge's lease for the instance's MAC, checked against
	// the bridge's subnet: the host's truth, never the container's claim.
	IPv4      string
	Created   time.Time
	CPU       int
	Memory    int64 // bytes
	Disk      int64 // bytes, root disk size; 0 when unset
	GPUs      []string
	Snapshots int
	Image     string // the image alias or description recorded at creation

	nic nic // the NIC whose host-side address IPv4 is
}

// Image is an image users may launch.
type Image struct {
	Alias       string
	Description string
	Size        int64
	Fingerprint string
}

// GPU is one of the host's GPUs.
type GPU struct {
	ID     string // DRM card id, as LXD's gpu device "id" takes it
	Vendor string
	Model  string
	PCI    string
	UUID   string
}

// Spec describes a container to create.
type Spec struct {
	Name     string
	Image    string
	CPU      int
	Memory   int64
	Disk     int64
	Profiles []string          // besides "default"
	GPUs     map[string]string // device name -> id or pci, for GPUs picked one by one
	Start    bool
	// CopyOf, when set ("NAME/SNAPSHOT"), makes the container a copy of a
	// snapshot in the same project instead of an image.
	CopyOf string
}

// Limits are a project's LXD limits; zero means none.
type Limits struct {
	Instances int
	CPU       int
	Memory    int64
	Disk      int64
}

// GPUProfile is the state the GPU profile must have.
type GPUProfile struct {
	Name               string
	NvidiaRuntime      bool
	DriverCapabilities string
}

// Client talks to the local LXD daemon over its unix socket.
type Client struct {
	socket string
	log    *slog.Logger

	mu  sync.Mutex
	srv lxdclient.InstanceServer

	// ExecTimeout bounds a command run in a container; set before use.
	ExecTimeout time.Duration

	nets     subnets // bridges' subnets, and under its lock the NIC cache
	nicCache map[string]map[string]string
	nicAt    time.Time
}

// New returns a client for the socket ("" for LXD's default). It connects
// lazily, so the gateway starts even while LXD is down.
func New(socket string, log *slog.Logger) *Client {
	return &Client{socket: socket, log: log.With("component", "lxd")}
}

func (c *Client) server() (lxdclient.InstanceServer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv != nil {
		return c.srv, nil
	}
	srv, err := lxdclient.ConnectLXDUnix(c.socket, &lxdclient.ConnectionArgs{SkipGetServer: true})
	if err != nil {
		c.log.Warn("connect failed", "err", err)
		return nil, ErrUnavailable
	}
	c.srv = srv
	return srv, nil
}

func (c *Client) project(p string) (lxdclient.InstanceServer, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	return srv.UseProject(p), nil
}

// check turns an LXD error into a sentinel, keeping the raw error for the
// log, and drops the connection when the daemon went away so that the next
// call reconnects.
func (c *Client) check(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	msg := err.Error()
	// The status code first, where the answer has one; an operation's
	// failure (create, start, ...) carries only its text.
	status := 0
	var se api.StatusError
	if errors.As(err, &se) {
		status = se.Status()
	}
	switch {
	case status == http.StatusConflict:
		return fmt.Errorf("%s: %w", what, ErrExists)
	case status == http.StatusForbidden:
		c.log.Error(what+": LXD refused the gateway's own request", "err", err)
		return fmt.Errorf("%s: LXD refused; the admin must check the gateway's LXD access", what)
	case status == http.StatusNotFound || (status == 0 && strings.Contains(msg, "not found")):
		// LXD names the missing kind last: `... in project "p": InstanceSnapshot
		// not found`, "Image alias not found", "Project not found".
		last := strings.ToLower(msg[strings.LastIndex(msg, ": ")+1:])
		switch {
		case strings.Contains(last, "image"):
			return fmt.Errorf("%s: %w", what, ErrImageNotFound)
		case strings.Contains(last, "project"):
			return fmt.Errorf("%s: %w", what, ErrProjectMissing)
		}
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	case strings.Contains(msg, "DNS name"):
		c.log.Warn(what, "err", err)
		return fmt.Errorf("%s: %w", what, ErrDNSName)
	case strings.Contains(msg, "already exists"):
		return fmt.Errorf("%s: %w", what, ErrExists)
	case strings.Contains(msg, "already running"):
		return fmt.Errorf("%s: %w", what, ErrRunning)
	case strings.Contains(msg, "already stopped") || strings.Contains(msg, "not running"):
		return fmt.Errorf("%s: %w", what, ErrNotRunning)
	case strings.Contains(msg, "must be stopped") || strings.Contains(msg, "is running"):
		return fmt.Errorf("%s: %w", what, ErrRunning)
	case strings.Contains(msg, "Reached maximum") || strings.Contains(msg, "limit"):
		c.log.Warn(what, "err", err)
		return fmt.Errorf("%s: %w", what, ErrLimit)
	case isConnErr(err):
		c.log.Warn("connection lost; will reconnect", "what", what, "err", err)
		c.mu.Lock()
		c.srv = nil
		c.mu.Unlock()
		return fmt.Errorf("%s: %w", what, ErrUnavailable)
	}
	c.log.Error(what, "err", err)
	return fmt.Errorf("%s: LXD failed; the error was logged for the admin", what)
}

func isConnErr(err error) bool {
	msg := err.Error()
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "no such file or directory") || strings.Contains(msg, "EOF") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset")
}

// wait waits for op under ctx, reporting progress lines. When ctx ends
// first the operation goes on inside LXD; the caller decides what then.
func wait(ctx context.Context, op lxdclient.Operation, progress func(string)) error {
	if progress != nil {
		last := ""
		_, _ = op.AddHandler(func(o api.Operation) {
			for k, v := range o.Metadata {
				s, ok := v.(string)
				if ok && strings.HasSuffix(k, "_progress") && s != last {
					last = s
					progress(s)
				}
			}
		})
	}
	return op.WaitContext(ctx)
}

// EnsureProject creates the project if missing (sharing the default
// project's images, profiles and storage volumes) and sets its limits.
func (c *Client) EnsureProject(ctx context.Context, name string, l Limits) error {
	srv, err := c.server()
	if err != nil {
		return err
	}
	cfg := map[string]string{
		"features.images": "false", "features.profiles": "false", "features.storage.volumes": "false",
	}
	setLimit := func(k string, v int64, format func(int64) string) {
		if v > 0 {
			cfg[k] = format(v)
		} else {
			cfg[k] = ""
		}
	}
	setLimit("limits.instances", int64(l.Instances), itoa)
	setLimit("limits.cpu", int64(l.CPU), itoa)
	setLimit("limits.memory", l.Memory, bytesStr)
	setLimit("limits.disk", l.Disk, bytesStr)
	p, etag, err := srv.GetProject(name)
	if err != nil && api.StatusErrorCheck(err, http.StatusNotFound) {
		for k, v := range cfg {
			if v == "" {
				delete(cfg, k)
			}
		}
		err = srv.CreateProject(api.ProjectsPost{Name: name, ProjectPut: api.ProjectPut{
			Description: "lxcgate containers of one user", Config: cfg}})
		if err != nil && strings.Contains(err.Error(), "already exists") {
			return c.EnsureProject(ctx, name, l) // created meanwhile by another session
		}
		return c.check("create project "+name, err)
	}
	if err != nil {
		return c.check("get project "+name, err)
	}
	changed := false
	for k, v := range cfg {
		if p.Config[k] != v {
			changed = true
			if v == "" {
				delete(p.Config, k)
			} else {
				p.Config[k] = v
			}
		}
	}
	if !changed {
		return nil
	}
	return c.check("update project "+name, srv.UpdateProject(name, p.Writable(), etag))
}

func itoa(n int64) string     { return strconv.FormatInt(n, 10) }
func bytesStr(n int64) string { return strconv.FormatInt(n, 10) + "B" }

// Create creates (and with spec.Start, starts) a container. On failure after
// the instance exists, it deletes it again: nothing half-made stays.
func (c *Client) Create(ctx context.Context, project string, spec Spec, progress func(string)) error {
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	devices := map[string]map[string]string{}
	if spec.Disk > 0 {
		// The root disk comes from the default profile; override its size.
		devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": "default", "size": bytesStr(spec.Disk)}
	}
	nics, err := c.nicOverrides(srv)
	if err != nil {
		return err
	}
	for dev, d := range nics {
		devices[dev] = d
	}
	for dev, id := range spec.GPUs {
		d := map[string]string{"type": "gpu", "gputype": "physical"}
		if strings.Contains(id, ":") {
			d["pci"] = id
		} else {
			d["id"] = id
		}
		devices[dev] = d
	}
	req := api.InstancesPost{
		Name:   spec.Name,
		Type:   api.InstanceTypeContainer,
		Source: source(spec),
		InstancePut: api.InstancePut{
			Profiles: append([]string{"default"}, spec.Profiles...),
			Config: map[string]string{
				"limits.cpu":         strconv.Itoa(spec.CPU),
				"limits.memory":      bytesStr(spec.Memory),
				"user.lxcgate.image": spec.Image,
			},
			Devices: devices,
		},
	}
	op, err := srv.CreateInstance(req)
	if err != nil {
		return c.check("create "+spec.Name, err)
	}
	if err := wait(ctx, op, progress); err != nil {
		if ctx.Err() != nil {
			// The caller went away (Ctrl-C, dropped connection): LXD goes on
			// creating, so wait for it and take the instance away again.
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			if werr := op.WaitContext(bg); werr == nil {
				if derr := c.Delete(bg, project, spec.Name, true); derr != nil {
					c.log.Error("undo cancelled create failed", "project", project, "name", spec.Name, "err", derr)
				}
			}
			return ctx.Err()
		}
		return c.check("create "+spec.Name, err)
	}
	if !spec.Start {
		return nil
	}
	if progress != nil {
		progress("Starting")
	}
	if err := c.setState(ctx, srv, spec.Name, "start", false); err != nil {
		// Undo the create: a launch that failed leaves nothing behind.
		if derr := c.Delete(context.WithoutCancel(ctx), project, spec.Name, true); derr != nil {
			c.log.Error("undo create failed", "project", project, "name", spec.Name, "err", derr)
		}
		return err
	}
	return nil
}

func source(spec Spec) api.InstanceSource {
	if spec.CopyOf != "" {
		return api.InstanceSource{Type: "copy", Source: spec.CopyOf}
	}
	return api.InstanceSource{Type: "image", Alias: spec.Image, Project: "default"}
}

func (c *Client) setState(ctx context.Context, srv lxdclient.InstanceServer, name, action string, force bool) error {
	op, err := srv.UpdateInstanceState(name, api.InstanceStatePut{Action: action, Timeout: -1, Force: force}, "")
	if err != nil {
		return c.check(action+" "+name, err)
	}
	return c.check(action+" "+name, wait(ctx, op, nil))
}

// Start starts a container.
func (c *Client) Start(ctx context.Context, project, name string) error {
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	return c.setState(ctx, srv, name, "start", false)
}

// Stop stops a container, cleanly unless force.
func (c *Client) Stop(ctx context.Context, project, name string, force bool) error {
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	return c.setState(ctx, srv, name, "stop", force)
}

// Restart restarts a running container.
func (c *Client) Restart(ctx context.Context, project, name string) error {
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	return c.setState(ctx, srv, name, "restart", false)
}

// Delete deletes a container; with force a running one is stopped first.
func (c *Client) Delete(ctx context.Context, project, name string, force bool) error {
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	if force {
		err := c.setState(ctx, srv, name, "stop", true)
		if err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
	}
	op, err := srv.DeleteInstance(name)
	if err != nil {
		return c.check("delete "+name, err)
	}
	return c.check("delete "+name, wait(ctx, op, nil))
}

// Get returns one container.
func (c *Client) Get(ctx context.Context, project, name string) (Instance, error) {
	srv, err := c.project(project)
	if err != nil {
		return Instance{}, err
	}
	in, _, err := srv.GetInstanceFull(name)
	if err != nil {
		return Instance{}, c.check("get "+name, err)
	}
	out := []Instance{convert(in)}
	c.addresses(srv, out)
	return out[0], nil
}

// List returns the containers of one project, or of every project when
// project is "".
func (c *Client) List(ctx context.Context, project string) ([]Instance, error) {
	var ins []api.InstanceFull
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	if project == "" {
		ins, err = srv.GetInstancesFullAllProjects(api.InstanceTypeContainer)
	} else {
		ins, err = srv.UseProject(project).GetInstancesFull(api.InstanceTypeContainer)
	}
	if err != nil {
		return nil, c.check("list", err)
	}
	out := make([]Instance, 0, len(ins))
	for i := range ins {
		out = append(out, convert(&ins[i]))
	}
	c.addresses(srv, out)
	sort.Slice(out, func(i, j int) bool { return out[i].Project+"/"+out[i].Name < out[j].Project+"/"+out[j].Name })
	return out, nil
}

func convert(in *api.InstanceFull) Instance {
	cfg := in.ExpandedConfig
	if cfg == nil {
		cfg = in.Config
	}
	out := Instance{
		Name: in.Name, Project: in.Project, Status: in.Status, Running: in.StatusCode == api.Running,
		Created: in.CreatedAt, Snapshots: len(in.Snapshots), Image: cfg["user.lxcgate.image"],
	}
	if out.Image == "" {
		out.Image = cfg["image.description"]
	}
	out.CPU, _ = strconv.Atoi(cfg["limits.cpu"])
	out.Memory = parseBytes(cfg["limits.memory"])
	devs := in.ExpandedDevices
	if devs == nil {
		devs = in.Devices
	}
	if root, ok := devs["root"]; ok {
		out.Disk = parseBytes(root["size"])
	}
	for _, d := range devs {
		if d["type"] == "gpu" {
			id := d["id"]
			if id == "" {
				id = d["pci"]
			}
			if id == "" {
				id = "all"
			}
			out.GPUs = append(out.GPUs, id)
		}
	}
	sort.Strings(out.GPUs)
	// The address is not read from in.State: see addresses.go.
	out.nic = primaryNIC(devs, cfg)
	return out
}

// parseBytes reads the sizes lxcgate writes ("123B") and LXD's forms.
func parseBytes(s string) int64 {
	n, _ := units.ParseSize(s)
	return n
}
