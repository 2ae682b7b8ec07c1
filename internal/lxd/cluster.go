package lxd

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// Member is one member of an LXD cluster.
type Member struct {
	Name   string
	URL    string
	Status string // as LXD says it: Online, Offline, Evacuated, ...
	Online bool
	Groups []string
	// SimGPUs is the member's user.lxcgate.gpus: GPUs that stand in for
	// real ones where a lab has none (-1 when unset).
	SimGPUs int
	// Subnet is the member's user.lxcgate.subnet: the routed addresses
	// lxcgate gives its containers there ("" when unset).
	Subnet string

	hangs bool // LXD calls it online, but it does not answer the gateway
}

// Member config keys lxcgate reads.
const (
	MemberGPUsKey   = KeyPrefix + "gpus"
	MemberSubnetKey = KeyPrefix + "subnet"
)

// clusterCache remembers whether LXD is clustered: it does not change
// while the gateway runs, and it is asked on every create.
type clusterCache struct {
	mu        sync.Mutex
	known     bool
	clustered bool
	members   []Member
	at        time.Time
	direct    map[string]lxdclient.InstanceServer // each member's own API, for pings

	lastMu sync.Mutex
	last   map[string]Instance // by project/name: what the last full list said
}

// membersTTL bounds how stale the member list may be for placement; an
// offline member is noticed by the next call after it.
const membersTTL = 2 * time.Second

// Members lists the cluster's members, or nil when LXD is not clustered.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	c.cluster.mu.Lock()
	defer c.cluster.mu.Unlock()
	if c.cluster.known && !c.cluster.clustered {
		return nil, nil
	}
	if c.cluster.members != nil && time.Since(c.cluster.at) < membersTTL {
		return c.cluster.members, nil
	}
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	if !c.cluster.known {
		cl, _, err := srv.GetCluster()
		if err != nil {
			return nil, c.check("cluster", err)
		}
		c.cluster.known, c.cluster.clustered = true, cl.Enabled
		if !cl.Enabled {
			return nil, nil
		}
	}
	ms, err := srv.GetClusterMembers()
	if err != nil {
		return nil, c.check("cluster members", err)
	}
	out := make([]Member, 0, len(ms))
	hung := c.pingMembers(ctx, ms)
	for _, m := range ms {
		sim := -1
		if v, ok := m.Config[MemberGPUsKey]; ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				sim = n
			}
		}
		mb := Member{Name: m.ServerName, URL: m.URL, Status: m.Status, Online: m.Status == "Online",
			Groups: m.Groups, SimGPUs: sim, Subnet: m.Config[MemberSubnetKey]}
		if mb.Online && hung[mb.Name] {
			// LXD has not noticed yet (its heartbeats take a while).
			mb.Online, mb.Status, mb.hangs = false, "Offline", true
		}
		out = append(out, mb)
	}
	c.cluster.members, c.cluster.at = out, time.Now()
	return out, nil
}

// Resources are what placement weighs on one member.
type Resources struct {
	MemoryTotal, MemoryUsed uint64
	CPUs                    int
	GPUs                    []GPU
}

// MemberResources reads one member's resources ("" for a single host).
func (c *Client) MemberResources(ctx context.Context, member string) (Resources, error) {
	defer c.timed("resources")()
	srv, err := c.server()
	if err != nil {
		return Resources{}, err
	}
	if member != "" {
		srv = srv.UseTarget(member)
	}
	res, err := srv.GetServerResources()
	if err != nil {
		return Resources{}, c.check("resources of "+member, err)
	}
	return Resources{MemoryTotal: res.Memory.Total, MemoryUsed: res.Memory.Used, CPUs: int(res.CPU.Total), GPUs: gpus(res)}, nil
}

// Move moves a stopped container to another cluster member.
func (c *Client) Move(ctx context.Context, project, name, member string) error {
	defer c.timed("move")()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	op, err := srv.UseTarget(member).MigrateInstance(name, api.InstancePost{Name: name, Migration: true})
	if err != nil {
		return c.check("move "+name, err)
	}
	return c.check("move "+name, wait(ctx, op, nil))
}

// markOffline marks the instances on members that do not answer: LXD
// still lists them, from its database, with a status that means nothing.
func (c *Client) markOffline(ctx context.Context, ins []Instance) {
	if len(ins) == 0 || (c.cluster.isKnown() && !c.cluster.isClustered()) {
		return
	}
	ms, err := c.Members(ctx)
	if err != nil || ms == nil {
		return
	}
	down := map[string]bool{}
	for _, m := range ms {
		if !m.Online {
			down[m.Name] = true
		}
	}
	for i := range ins {
		// LXD answers "Error" for an instance whose member it could not
		// ask: as good as away, whatever the member list says yet.
		if down[ins[i].Location] || (ins[i].Status == "Error" && ins[i].Location != "") {
			ins[i].Offline = ins[i].Location
			ins[i].Running, ins[i].Status, ins[i].IPv4 = false, "Unreachable", ""
		}
	}
}

func (cc *clusterCache) isKnown() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.known
}

func (cc *clusterCache) isClustered() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.clustered
}

// SetRouted gives a stopped container's routed eth0 another address (for
// a move to another member's subnet).
func (c *Client) SetRouted(ctx context.Context, project, name, addr string) error {
	defer c.timed("set-nic")()
	srv, err := c.project(project)
	if err != nil {
		return err
	}
	in, etag, err := srv.GetInstance(name)
	if err != nil {
		return c.check("get "+name, err)
	}
	put := in.Writable()
	if put.Devices == nil {
		put.Devices = map[string]map[string]string{}
	}
	put.Devices["eth0"] = routedNIC(addr)
	op, err := srv.UpdateInstance(name, put, etag)
	if err != nil {
		return c.check("set the address of "+name, err)
	}
	return c.check("set the address of "+name, wait(ctx, op, nil))
}

// pingTimeout bounds how long a member may take to answer the gateway's
// own ping before it counts as away.
const pingTimeout = 1500 * time.Millisecond

// pingMembers asks each member LXD calls online for /1.0 on its own
// address, at once, and names those that did not answer in time. Over a
// unix socket (a single host) there is nothing to ask.
func (c *Client) pingMembers(ctx context.Context, ms []api.ClusterMember) map[string]bool {
	hung := map[string]bool{}
	if !c.conn.remote() {
		return hung
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range ms {
		if m.Status != "Online" {
			continue
		}
		srv, err := c.direct(m)
		if err != nil {
			hung[m.ServerName] = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !ping(ctx, srv, m.URL) {
				mu.Lock()
				hung[m.ServerName] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return hung
}

// ping asks a member for /1.0 within pingTimeout. Any answer counts: a
// refusal still says the member is there.
func ping(ctx context.Context, srv lxdclient.InstanceServer, url string) bool {
	hc, err := srv.GetHTTPClient()
	if err != nil {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, url+"/1.0", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// direct is a client of one member's own address (the cluster shares one
// certificate, so the pinned one, and only it, fits every member). Called
// with the cluster lock held.
func (c *Client) direct(m api.ClusterMember) (lxdclient.InstanceServer, error) {
	if srv, ok := c.cluster.direct[m.ServerName]; ok {
		return srv, nil
	}
	srv, err := connectHTTPS(m.URL, c.conn)
	if err != nil {
		return nil, err
	}
	if c.cluster.direct == nil {
		c.cluster.direct = map[string]lxdclient.InstanceServer{}
	}
	c.cluster.direct[m.ServerName] = srv
	return srv, nil
}

// memberHangs reports a member that LXD still calls online but that does
// not answer: a full list would wait for it.
func (c *Client) memberHangs(ctx context.Context) bool {
	if c.cluster.isKnown() && !c.cluster.isClustered() {
		return false
	}
	ms, err := c.Members(ctx)
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.hangs {
			return true
		}
	}
	return false
}

// remember keeps what a full list of project ("" for all) said, for
// listKnown; what the list no longer has is forgotten.
func (c *Client) remember(project string, ins []Instance) {
	if c.cluster.isKnown() && !c.cluster.isClustered() {
		return
	}
	c.cluster.lastMu.Lock()
	defer c.cluster.lastMu.Unlock()
	if c.cluster.last == nil {
		c.cluster.last = map[string]Instance{}
	}
	for k, in := range c.cluster.last {
		if project == "" || in.Project == project {
			delete(c.cluster.last, k)
		}
	}
	for _, in := range ins {
		c.cluster.last[in.Project+"/"+in.Name] = in
	}
}

// rememberOne keeps what a Get said, so that a container made since the
// last full list is known too.
func (c *Client) rememberOne(in Instance) {
	if !c.cluster.isClustered() || in.Offline != "" {
		return
	}
	c.cluster.lastMu.Lock()
	defer c.cluster.lastMu.Unlock()
	if c.cluster.last == nil {
		c.cluster.last = map[string]Instance{}
	}
	c.cluster.last[in.Project+"/"+in.Name] = in
}

// listKnown answers from the last full list, without asking LXD: while
// LXD still waits for a member that went away, any list would wait too
// (LXD 5.0 asks every member, even for recursion=1). Instances on members
// away are marked offline; the others keep their last known state. With
// nothing remembered yet (a gateway just started) LXD is asked anyway.
func (c *Client) listKnown(ctx context.Context, srv lxdclient.InstanceServer, project string) ([]Instance, error) {
	c.cluster.lastMu.Lock()
	var out []Instance
	for _, in := range c.cluster.last {
		if project == "" || in.Project == project {
			out = append(out, in)
		}
	}
	empty := len(c.cluster.last) == 0
	c.cluster.lastMu.Unlock()
	if empty {
		ins, err := srv.GetInstancesFullAllProjects(api.InstanceTypeContainer)
		if err != nil {
			return nil, c.check("list", err)
		}
		for i := range ins {
			if project == "" || ins[i].Project == project {
				out = append(out, convert(&ins[i]))
			}
		}
	}
	c.markOffline(ctx, out)
	sort.Slice(out, func(i, j int) bool { return out[i].Project+"/"+out[i].Name < out[j].Project+"/"+out[j].Name })
	return out, nil
}

// offlineGet answers for an instance whose member is away, from LXD's
// database, without asking the member; ok is false otherwise.
func (c *Client) offlineGet(ctx context.Context, project, name string) (Instance, bool) {
	if c.cluster.isKnown() && !c.cluster.isClustered() {
		return Instance{}, false
	}
	ms, err := c.Members(ctx)
	if err != nil || ms == nil {
		return Instance{}, false
	}
	away := false
	for _, m := range ms {
		away = away || !m.Online
	}
	if !away {
		return Instance{}, false
	}
	// Asking LXD would be forwarded to the member: the last full list
	// says where the instance is.
	c.cluster.lastMu.Lock()
	in, ok := c.cluster.last[project+"/"+name]
	c.cluster.lastMu.Unlock()
	if !ok {
		return Instance{}, false
	}
	out := []Instance{in}
	c.markOffline(ctx, out)
	return out[0], out[0].Offline != ""
}

// listTimeout bounds a full list in a cluster: past it, a member is taken
// to be away and the list is answered from what is known.
const listTimeout = 3 * time.Second

// errListSlow: a full list in a cluster took longer than listTimeout.
var errListSlow = errors.New("list: a cluster member is slow to answer")

// fullList lists with state. In a cluster it waits at most listTimeout:
// LXD's client here cannot be given a deadline per call (its WithContext
// changes the shared client), so the call runs on and its answer is
// dropped.
func (c *Client) fullList(srv lxdclient.InstanceServer, project string) ([]api.InstanceFull, error) {
	list := func() ([]api.InstanceFull, error) {
		if project == "" {
			return srv.GetInstancesFullAllProjects(api.InstanceTypeContainer)
		}
		return srv.UseProject(project).GetInstancesFull(api.InstanceTypeContainer)
	}
	if !c.cluster.isClustered() {
		return list()
	}
	type answer struct {
		ins []api.InstanceFull
		err error
	}
	ch := make(chan answer, 1)
	var late atomic.Bool
	go func() {
		ins, err := list()
		if late.Load() && err == nil {
			// Nobody waits any more; what it says still freshens the
			// last known state, so that a slow cluster is not stuck in it.
			out := make([]Instance, 0, len(ins))
			for i := range ins {
				out = append(out, convert(&ins[i]))
			}
			c.addresses(srv, out)
			c.remember(project, out)
		}
		ch <- answer{ins, err}
	}()
	select {
	case a := <-ch:
		return a.ins, a.err
	case <-time.After(listTimeout):
		late.Store(true)
		return nil, errListSlow
	}
}

// expire makes the next Members ask LXD and ping again.
func (cc *clusterCache) expire() {
	cc.mu.Lock()
	cc.at = time.Time{}
	cc.mu.Unlock()
}

// memberOf is the cluster member that held project/name when last seen,
// whose daemon's admission queue its operations pass; "" on a single host
// or before it was seen (LXD's own placement then).
func (c *Client) memberOf(project, name string) string {
	c.cluster.lastMu.Lock()
	defer c.cluster.lastMu.Unlock()
	return c.cluster.last[project+"/"+name].Location
}
