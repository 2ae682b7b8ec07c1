package shell

import "github.com/lxcgate/lxcgate/internal/cli"

// QuotaFlags are the flags that change a user's quota, in the shell's
// quota command and the host's 'lxcgate user quota' alike.
var QuotaFlags = []cli.Flag{
	{Name: "containers", Kind: cli.Int, Help: "containers at most", Admin: true},
	{Name: "cpu", Kind: cli.Int, Help: "CPUs over all containers", Admin: true},
	{Name: "memory", Kind: cli.Size, Help: "memory over all containers", Admin: true},
	{Name: "disk", Kind: cli.Size, Help: "disk over all containers", Admin: true},
	{Name: "gpus", Kind: cli.Int, Help: "GPUs over all containers", Admin: true},
	{Name: "ports", Kind: cli.Int, Help: "ports a user may add to each container", Admin: true},
	{Name: "snapshots", Kind: cli.Int, Help: "snapshots over all containers", Admin: true},
	{Name: "hosts", Kind: cli.String, Arg: "GROUP", Help: "the cluster group containers go to (all: any member)", Admin: true},
}
