package lxd

import (
	"context"
	"strconv"

	"github.com/canonical/lxd/shared/api"
)

// GPU is one of the host's GPUs.
type GPU struct {
	ID     string // DRM card id, as LXD's gpu device "id" takes it
	Vendor string
	Model  string
	PCI    string
	UUID   string
	// Host is the cluster member the GPU is in ("" on a single host).
	Host string
	// Simulated GPUs stand in for real ones (a member's user.lxcgate.gpus):
	// placement counts them, no device is attached.
	Simulated bool
	// MIG is the profile of a MIG device ("1g.18gb") of a GPU split into
	// them ([gpu] mig), UUID its "MIG-..." UUID and Parent the GPU's PCI
	// address; "" for a whole GPU.
	MIG, Parent string
}

// GPUs lists the host's GPUs from LXD's resources API.
func (c *Client) GPUs(ctx context.Context) ([]GPU, error) {
	defer c.timed("gpus")()
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	res, err := srv.GetServerResources()
	if err != nil {
		return nil, c.check("resources", err)
	}
	return gpus(res), nil
}

func gpus(res *api.Resources) []GPU {
	var out []GPU
	for _, card := range res.GPU.Cards {
		g := GPU{Vendor: card.Vendor, Model: card.Product, PCI: card.PCIAddress}
		if card.DRM != nil {
			g.ID = strconv.FormatUint(card.DRM.ID, 10)
		}
		if card.Nvidia != nil {
			g.UUID = card.Nvidia.UUID
			if card.Nvidia.Model != "" {
				g.Model = card.Nvidia.Model
			}
		}
		out = append(out, g)
	}
	return out
}
