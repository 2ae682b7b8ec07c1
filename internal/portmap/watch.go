package portmap

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Another tool may rewrite the ruleset at any moment: a firewall reload,
// ufw, Docker restarting, someone deleting lxcgate's table. nf_tables tells
// every commit to its multicast group, so the mapper need not wait for
// its periodic pass: each commit (anyone's, lxcgate's own included: the
// ruleset generation then says nothing changed, and the pass costs a
// comparison) starts a pass within settleAfterCommit.

// settleAfterCommit lets a burst of commits (a firewall reload is several)
// end before the pass that repairs after them.
const settleAfterCommit = 150 * time.Millisecond

// watchCommits sends on kick after every nf_tables commit in the network
// namespace, until ctx ends. It returns an error when nf_tables cannot be
// watched (iptables-legacy: its rules change with no notice; the
// periodic pass covers them).
func watchCommits(ctx context.Context, kick chan<- struct{}) error {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{Groups: 1 << (unix.NFNLGRP_NFTABLES - 1)})
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	newGen := netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWGEN)
	for {
		msgs, err := c.Receive()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, syscall.ENOBUFS) {
			// Notices were lost in a storm: a pass reads the truth anyway.
			notify(kick)
			continue
		}
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == newGen { // one per commit, after its objects
				notify(kick)
			}
		}
	}
}

func notify(kick chan<- struct{}) {
	select {
	case kick <- struct{}{}:
	default: // a pass is due already
	}
}
