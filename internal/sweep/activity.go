package sweep

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/ti-mo/conntrack"
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
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Utilization returns nil, nil when nvidia-smi is not installed.
func (n NvidiaSMI) Utilization(ctx context.Context) (map[string]float64, error) {
	run := n.Run
	if run == nil {
		if _, err := exec.LookPath("nvidia-smi"); err != nil {
			return nil, nil
		}
		run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, name, args...).Output()
		}
	}
	out, err := run(ctx, "nvidia-smi", "--query-gpu=pci.bus_id,utilization.gpu", "--format=csv,noheader,nounits")
	if err != nil {
		return nil, fmt.Errorf("nvidia-smi: %w", err)
	}
	return parseSMI(string(out))
}

// parseSMI reads "00000000:01:00.0, 87" lines; nvidia-smi writes the PCI
// domain with eight digits, LXD with four.
func parseSMI(out string) (map[string]float64, error) {
	util := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		bus, pct, ok := strings.Cut(line, ",")
		if !ok {
			return nil, errors.New("nvidia-smi: unexpected output: " + line)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil {
			v = 100 // "[N/A]": not known, so not idle
		}
		bus = strings.ToLower(strings.TrimSpace(bus))
		if dom, rest, ok := strings.Cut(bus, ":"); ok && len(dom) == 8 {
			bus = dom[4:] + ":" + rest
		}
		util[bus] = v
	}
	return util, nil
}
