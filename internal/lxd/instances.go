package lxd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Instance is a container as lxcgate shows it.
type Instance struct {
	Name    string
	Project string
	Running bool
	Status  string // as LXD says it: Running, Stopped, ...
	// IPv4 is the bridge's lease for the instance's MAC, checked against
	// the bridge's subnet: the host's truth, never the container's claim.
	IPv4    string
	Created time.Time
	CPU     int
	Memory  int64    // bytes
	Disk    int64    // bytes, root disk size; 0 when unset
	GPUs    []string // what each GPU device names: an id, a PCI address or AllGPUs
	// GPUDevices are its GPU devices, its profiles' included: device name
	// -> what it names, as in GPUs.
	GPUDevices map[string]string
	Snapshots  int
	Image      string        // the image alias or description recorded at creation
	Location   string        // the cluster member it is on; "" on a single host
	Routed     string        // its routed NIC's address, running or not; "" for a bridged NIC
	CPUTime    time.Duration // CPU time used since it started (LXD's state)
	// Offline names its cluster member when that member does not answer:
	// Status and Running then say nothing true.
	Offline string
	// Config holds the instance's own "user.lxcgate." keys (host ports,
	// see PortKey), which outlive lxcgate's database.
	Config map[string]string
	// Disks are its own disk devices but the root disk (volumes and
	// datasets), by device name.
	Disks map[string]Disk

	nic nic // the NIC whose host-side address IPv4 is
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
	// Config is set on the instance with the create request: lxcgate's
	// own "user.lxcgate." keys, such as its host ports (PortKey).
	Config map[string]string
	// Target is the cluster member to create on; "" lets LXD choose (or
	// is the only host).
	Target string
	// Routed, when set, replaces the profile's eth0 with a routed NIC of
	// this IPv4 address (a cluster member's subnet, see Member.Subnet).
	Routed string
	// Disks are disk devices to create it with (volumes, datasets), by
	// device name.
	Disks map[string]Disk
}

// KeyPrefix starts every config key lxcgate keeps on an instance.
const KeyPrefix = "user.lxcgate."

// PortKey is the config key that keeps a service's host port on its
// instance; ContainerPortKey keeps the port inside the container.
func PortKey(service string) string { return KeyPrefix + "port." + service }

// ContainerPortKey: see PortKey.
func ContainerPortKey(service string) string { return KeyPrefix + "cport." + service }

// Create creates (and with spec.Start, starts) a container. On failure after
// the instance exists, it deletes it again: nothing half-made stays.
func (c *Client) Create(ctx context.Context, project string, spec Spec, progress func(string)) error {
	defer c.timed("create")()
	if progress != nil {
		ctx = WithWaitNote(ctx, progress)
	}
	release, err := c.admit.acquire(ctx, spec.Target, project)
	if err != nil {
		return fmt.Errorf("create %s: %w", spec.Name, err)
	}
	defer release()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	if spec.Target != "" {
		srv = srv.UseTarget(spec.Target)
	}
	prof, err := c.defaultProfile(srv)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = c.createOnce(ctx, srv, project, spec, prof, progress)
		if err == nil || attempt == 3 || ctx.Err() != nil || !storageRace(err) {
			return err
		}
		// LXD 5.0.2 on btrfs fails now and then when creates of one image
		// run at once ("readdirent ...: bad file descriptor", "Failed to
		// handle idmapped storage"): nothing is left of the attempt, and
		// the next one passes.
		c.log.Warn("LXD failed a create in a known storage race; trying again", "project", project, "name", spec.Name, "attempt", attempt, "err", err)
		if derr := c.deleteNow(context.WithoutCancel(ctx), project, spec.Name, true); derr != nil && !errors.Is(derr, ErrNotFound) {
			return err
		}
		time.Sleep(time.Duration(attempt) * 300 * time.Millisecond)
	}
}

// storageRace is one of the transient failures of LXD's storage that a
// new attempt gets past.
func storageRace(err error) bool {
	var race raceError
	return errors.As(err, &race)
}

// raceError keeps the checked error of a storage race and its raw text.
type raceError struct{ error }

func (e raceError) Unwrap() error { return e.error }

func raced(raw, checked error) error {
	msg := raw.Error()
	if strings.Contains(msg, "bad file descriptor") || strings.Contains(msg, "Failed to handle idmapped storage") ||
		strings.Contains(msg, "Failed creating instance from image: readdirent") ||
		// Under a burst of starts LXD's "ip link add" for the NIC's veth
		// pair fails reading its own pipe (EAGAIN); the next start passes.
		(strings.Contains(msg, "Failed to create the veth interfaces") && strings.Contains(msg, "resource temporarily unavailable")) {
		return raceError{checked}
	}
	return checked
}

// createOnce is one attempt of Create.
func (c *Client) createOnce(ctx context.Context, srv lxdclient.InstanceServer, project string, spec Spec, prof profile, progress func(string)) error {
	op, err := srv.CreateInstance(createRequest(spec, prof))
	if err != nil {
		return c.check("create "+spec.Name, err)
	}
	if err := wait(ctx, op, progress); err != nil {
		if ctx.Err() != nil {
			c.undoCancelledCreate(ctx, op, project, spec.Name)
			return ctx.Err()
		}
		return raced(err, c.check("create "+spec.Name, err))
	}
	if !spec.Start {
		return nil
	}
	if progress != nil {
		progress("Starting")
	}
	if err := c.startRaw(ctx, srv, spec.Name); err != nil {
		// Undo the create: a launch that failed leaves nothing behind.
		if derr := c.deleteNow(context.WithoutCancel(ctx), project, spec.Name, true); derr != nil {
			c.log.Error("undo create failed", "project", project, "name", spec.Name, "err", derr)
		}
		return err
	}
	return nil
}

// startRaw is setState's start, telling a storage race apart.
func (c *Client) startRaw(ctx context.Context, srv lxdclient.InstanceServer, name string) error {
	op, err := srv.UpdateInstanceState(name, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
	if err == nil {
		err = wait(ctx, op, nil)
	}
	if err != nil && ctx.Err() == nil {
		return raced(err, c.check("start "+name, err))
	}
	return c.check("start "+name, err)
}

// createRequest is the instance LXD creates for spec: the default profile
// plus spec's, the limits, the image it came from and lxcgate's own keys.
func createRequest(spec Spec, prof profile) api.InstancesPost {
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
			Devices: devicesFor(spec, prof),
		},
	}
	for k, v := range spec.Config {
		if strings.HasPrefix(k, KeyPrefix) {
			req.Config[k] = v
		}
	}
	return req
}

// undoCancelledCreate runs when the caller went away (Ctrl-C, dropped
// connection) during a create: LXD goes on creating, so wait for it and take
// the instance away again.
func (c *Client) undoCancelledCreate(ctx context.Context, op lxdclient.Operation, project, name string) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if werr := op.WaitContext(bg); werr == nil {
		if derr := c.deleteNow(bg, project, name, true); derr != nil {
			c.log.Error("undo cancelled create failed", "project", project, "name", name, "err", derr)
		}
	}
}

// devicesFor overrides the default profile's devices as spec asks: the
// root disk's size, eth0 (filtered, or routed) and GPUs.
func devicesFor(spec Spec, prof profile) map[string]map[string]string {
	devices := map[string]map[string]string{}
	if spec.Disk > 0 {
		devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": prof.pool, "size": bytesStr(spec.Disk)}
	}
	if spec.Routed != "" {
		devices["eth0"] = routedNIC(spec.Routed)
	} else {
		maps.Copy(devices, prof.nics)
	}
	for dev, id := range spec.GPUs {
		devices[dev] = GPUDevice(id)
	}
	for dev, d := range spec.Disks {
		devices[dev] = d.Device()
	}
	return devices
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
	return c.changeState(ctx, project, name, "start", false)
}

// Stop stops a container, cleanly unless force.
func (c *Client) Stop(ctx context.Context, project, name string, force bool) error {
	return c.changeState(ctx, project, name, "stop", force)
}

// Restart restarts a running container.
func (c *Client) Restart(ctx context.Context, project, name string) error {
	return c.changeState(ctx, project, name, "restart", false)
}

// changeState runs action (start, stop, restart) on a container in
// project, timed under the action's name.
func (c *Client) changeState(ctx context.Context, project, name, action string, force bool) error {
	defer c.timed(action)()
	release, err := c.admit.acquire(ctx, c.memberOf(project, name), project)
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, name, err)
	}
	defer release()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	return c.setState(ctx, srv, name, action, force)
}

// Delete deletes a container; with force a running one is stopped first.
func (c *Client) Delete(ctx context.Context, project, name string, force bool) error {
	defer c.timed("delete")()
	release, err := c.admit.acquire(ctx, c.memberOf(project, name), project)
	if err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	defer release()
	return c.deleteNow(ctx, project, name, force)
}

// deleteNow is Delete within a slot its caller holds.
func (c *Client) deleteNow(ctx context.Context, project, name string, force bool) error {
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
	defer c.timed("get")()
	srv, err := c.project(project)
	if err != nil {
		return Instance{}, err
	}
	if in, ok := c.offlineGet(ctx, project, name); ok {
		return in, nil // its member does not answer: LXD would wait for it
	}
	in, _, err := srv.GetInstanceFull(name)
	if err != nil {
		return Instance{}, c.check("get "+name, err)
	}
	out := []Instance{convert(in)}
	c.markOffline(ctx, out)
	c.addresses(srv, out)
	c.rememberOne(out[0])
	return out[0], nil
}

// List returns the containers of one project, or of every project when
// project is "".
func (c *Client) List(ctx context.Context, project string) ([]Instance, error) {
	defer c.timed("list")()
	var ins []api.InstanceFull
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	if c.memberHangs(ctx) {
		// LXD would wait (up to 30 s) for the member: answer with what
		// the last full list said.
		return c.listKnown(ctx, srv, project)
	}
	ins, err = c.fullList(srv, project)
	if errors.Is(err, errListSlow) {
		// A member went away since the last ping: look again, and answer
		// from what is known rather than wait with LXD.
		c.cluster.expire()
		return c.listKnown(ctx, srv, project)
	}
	if err != nil {
		return nil, c.check("list", err)
	}
	out := make([]Instance, 0, len(ins))
	for i := range ins {
		out = append(out, convert(&ins[i]))
	}
	c.markOffline(ctx, out)
	c.addresses(srv, out)
	c.remember(project, out)
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
		Created: in.CreatedAt, Snapshots: len(in.Snapshots), Image: cfg["user.lxcgate.image"], Location: in.Location,
	}
	if out.Location == "none" {
		out.Location = "" // a single host's answer
	}
	if out.Image == "" {
		out.Image = cfg["image.description"]
	}
	for k, v := range in.Config { // the instance's own, never a profile's
		if strings.HasPrefix(k, KeyPrefix+"port.") || strings.HasPrefix(k, KeyPrefix+"cport.") {
			if out.Config == nil {
				out.Config = map[string]string{}
			}
			out.Config[k] = v
		}
	}
	out.CPU, _ = strconv.Atoi(cfg["limits.cpu"])
	if in.State != nil {
		out.CPUTime = time.Duration(in.State.CPU.Usage)
	}
	out.Memory = parseBytes(cfg["limits.memory"])
	devs := in.ExpandedDevices
	if devs == nil {
		devs = in.Devices
	}
	if root, ok := devs["root"]; ok {
		out.Disk = parseBytes(root["size"])
	}
	for name, d := range devs {
		if d["type"] == "gpu" {
			if out.GPUDevices == nil {
				out.GPUDevices = map[string]string{}
			}
			out.GPUDevices[name] = GPUOf(d)
			out.GPUs = append(out.GPUs, GPUOf(d))
		}
	}
	sort.Strings(out.GPUs)
	for name, d := range in.Devices {
		if disk, ok := DiskOf(d); ok {
			if out.Disks == nil {
				out.Disks = map[string]Disk{}
			}
			out.Disks[name] = disk
		}
	}
	// The address is not read from in.State: see addresses.go.
	out.nic = primaryNIC(devs, cfg)
	out.Routed = out.nic.routed
	return out
}

// parseBytes reads the sizes lxcgate writes ("123B") and LXD's forms.
func parseBytes(s string) int64 {
	n, _ := units.ParseSize(s)
	return n
}

// SetConfig sets (or, with "", removes) config keys of a container.
func (c *Client) SetConfig(ctx context.Context, project, name string, kv map[string]string) error {
	defer c.timed("configure")()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	in, etag, err := srv.GetInstance(name)
	if err != nil {
		return c.check("configure "+name, err)
	}
	put := in.Writable()
	for k, v := range kv {
		if v == "" {
			delete(put.Config, k)
		} else {
			put.Config[k] = v
		}
	}
	op, err := srv.UpdateInstance(name, put, etag)
	if err != nil {
		return c.check("configure "+name, err)
	}
	return c.check("configure "+name, wait(ctx, op, nil))
}

// IsRunning reports whether a container runs, without its full state (a
// cheaper call than Get).
func (c *Client) IsRunning(ctx context.Context, project, name string) (bool, error) {
	defer c.timed("get")()
	srv, err := c.project(project)
	if err != nil {
		return false, err
	}
	in, _, err := srv.GetInstance(name)
	if err != nil {
		return false, c.check("get "+name, err)
	}
	return in.StatusCode == api.Running, nil
}
