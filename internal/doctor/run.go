package doctor

import (
	"context"
	"time"
)

// Env is the host a report describes, and the configuration it is held
// against.
type Env struct {
	LXD         LXD
	Runner      Runner
	LookPath    func(string) (string, error)
	InUse       PortInUse
	ChainPrefix string
	// NFTable is lxcgate's nftables table where the DNAT lives there;
	// empty: in the iptables chains.
	NFTable       string
	PortFirst     int
	PortLast      int
	NAT           bool // the bridge should NAT containers' traffic
	NvidiaRuntime bool
	DataDir       string
	DBFile        string
	HostKey       string
	// Mounts is the LXD host's mount table (/proc/self/mounts) when LXD
	// runs on this host; empty (a remote LXD): lxcfs is not checked.
	Mounts string
	// ProcSys is the LXD host's /proc/sys, read with Mounts.
	ProcSys string
	// Datasets are the configured datasets' host sources, by name.
	Datasets map[string]string
	// DatasetMembers are, by name, the cluster members each dataset's
	// source is on (none: every member); read only in a cluster.
	DatasetMembers map[string][]string
}

// probedPorts is how many ports from the range's start are bind-probed:
// enough to catch a service squatting the range, cheap at every start.
const probedPorts = 64

// Run runs every check, each LXD call bounded so that a hung daemon makes
// a failed check, not a hung doctor.
func Run(ctx context.Context, e Env) Report {
	var r Report
	add := func(c Check) { r.Checks = append(r.Checks, c) }
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h, err := e.LXD.Host(lctx)
	add(CheckLXD(h, err))
	clustered := false
	if h.Version != "" {
		add(CheckPoolDriver(h.Pool, h.PoolDriver))
		// In a cluster the gateway reaches containers through each
		// member's routed subnet, not through a bridge of its own.
		if ms, err := e.LXD.Members(lctx); err == nil && ms != nil {
			clustered = true
			add(CheckMemberRoutes(ctx, e.Runner, ms))
		} else {
			add(CheckBridge(h, e.NAT))
			if e.Mounts != "" {
				add(CheckLXCFS(e.Mounts))
				add(CheckInotify(e.ProcSys))
			}
		}
		add(CheckGPUs(lctx, e.LXD, e.NvidiaRuntime, e.LookPath))
	} else {
		for _, name := range []string{"storage pool", "bridge", "gpus"} {
			add(Check{Name: name, Status: Warn, Detail: "not checked: LXD does not answer"})
		}
	}
	add(CheckIptablesBackend(ctx, e.Runner))
	if e.NFTable != "" {
		add(CheckNFTable(ctx, e.Runner, e.LookPath, e.NFTable))
		add(CheckForwardChain(ctx, e.Runner, e.ChainPrefix))
	} else {
		add(CheckChains(ctx, e.Runner, e.ChainPrefix))
	}
	add(CheckPortRange(e.PortFirst, e.PortLast, probedPorts, e.InUse))
	add(CheckPerms(e.DataDir, e.DBFile))
	add(CheckHostKey(e.HostKey))
	ds := CheckDatasets(e.Datasets)
	if clustered {
		ds = ClusterDatasets(e.Datasets, e.DatasetMembers)
	}
	for _, c := range ds {
		add(c)
	}
	return r
}
