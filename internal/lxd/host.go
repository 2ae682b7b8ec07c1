package lxd

import "context"

// Host is what a preflight reads of the LXD host: the daemon's version,
// and the pool and network the default profile gives every container.
type Host struct {
	Version       string
	Pool          string
	PoolDriver    string
	Network       string
	NetworkConfig map[string]string
}

// Host reads the server, the default profile's root disk pool and its
// first NIC's managed network (or containers.network, when set). A pool
// or network that can't be read is left empty rather than failing the rest.
func (c *Client) Host(ctx context.Context) (Host, error) {
	defer c.timed("host")()
	srv, err := c.server()
	if err != nil {
		return Host{}, err
	}
	s, _, err := srv.GetServer()
	if err != nil {
		return Host{}, c.check("server", err)
	}
	h := Host{Version: s.Environment.ServerVersion}
	p, _, err := srv.UseProject("default").GetProfile("default")
	if err != nil {
		return h, c.check("default profile", err)
	}
	for _, dev := range p.Devices {
		switch {
		case dev["type"] == "disk" && dev["path"] == "/" && h.Pool == "":
			h.Pool = dev["pool"]
		case dev["type"] == "nic" && h.Network == "":
			h.Network = dev["network"]
			if h.Network == "" {
				h.Network = dev["parent"]
			}
		}
	}
	if c.Network != "" {
		h.Network = c.Network // containers.network overrides the profile's NIC
	}
	if h.Pool != "" {
		pool, _, err := srv.GetStoragePool(h.Pool)
		if err != nil {
			return h, c.check("storage pool "+h.Pool, err)
		}
		h.PoolDriver = pool.Driver
	}
	if h.Network != "" {
		n, _, err := srv.UseProject("default").GetNetwork(h.Network)
		if err != nil {
			return h, c.check("network "+h.Network, err)
		}
		h.NetworkConfig = n.Config
	}
	return h, nil
}
