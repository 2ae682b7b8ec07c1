package sweep

import (
	"context"
	"fmt"
	"syscall"

	"github.com/ti-mo/conntrack"

	"github.com/lxcgate/lxcgate/internal/nvsmi"
)

// Conntrack lists the host's tracked TCP connections by the address that
// answers them (the reply's source): for a DNATed published port and for
// a connection the gateway dials (ssh -J) alike, the container. UDP is
// left out: the host's own chatter with a container (DHCP) says nothing.
type Conntrack struct{}

// tcpEstablished is the kernel's TCP_CONNTRACK_ESTABLISHED.
const tcpEstablished = 3

// Connections dumps the connection table over netlink (CAP_NET_ADMIN).
func (Conntrack) Connections(context.Context) (map[string][]Flow, error) {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return nil, fmt.Errorf("conntrack dump: %w", err)
	}
	out := map[string][]Flow{}
	for _, f := range flows {
		a := f.TupleReply.IP.SourceAddress
		if !a.Is4() || f.TupleOrig.Proto.Protocol != syscall.IPPROTO_TCP {
			continue
		}
		open := f.ProtoInfo.TCP != nil && f.ProtoInfo.TCP.State == tcpEstablished
		out[a.String()] = append(out[a.String()], Flow{ID: f.ID, Open: open})
	}
	return out, nil
}

// NvidiaSMI reads GPU utilization with nvidia-smi where it is installed.
type NvidiaSMI struct {
	// Run runs a command and returns its output; nil runs it for real.
	Run nvsmi.Run
}

// Utilization returns each local GPU's utilisation by PCI address; a GPU
// that reports none (split into MIG devices) counts as fully used, so
// never idle. nil, nil where nvidia-smi is not installed.
func (n NvidiaSMI) Utilization(ctx context.Context) (map[string]float64, error) {
	gs, err := nvsmi.Query(ctx, n.Run)
	if err != nil || gs == nil {
		return nil, err
	}
	util := map[string]float64{}
	for _, g := range gs {
		util[g.PCI] = g.Util
		if g.Util < 0 {
			util[g.PCI] = 100
		}
	}
	return util, nil
}
