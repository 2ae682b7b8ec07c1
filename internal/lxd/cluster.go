package lxd

import (
	"context"
	"strconv"
	"sync"
	"time"

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
}

// membersTTL bounds how stale the member list may be for placement; an
// offline member is noticed by the next call after it.
const membersTTL = 2 * time.Second

// Members lists the cluster's members, or nil when LXD is not clustered.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	defer c.timed("members")()
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
	for _, m := range ms {
		sim := -1
		if v, ok := m.Config[MemberGPUsKey]; ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				sim = n
			}
		}
		out = append(out, Member{Name: m.ServerName, URL: m.URL, Status: m.Status, Online: m.Status == "Online",
			Groups: m.Groups, SimGPUs: sim, Subnet: m.Config[MemberSubnetKey]})
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
		if down[ins[i].Location] {
			ins[i].Offline = ins[i].Location
			ins[i].Running, ins[i].Status = false, "Unreachable"
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
