package doctor

import (
	"context"
	"fmt"
	"strings"
)

// CheckChains looks for lxcgate's chains (named by prefix) and the jumps
// into them in the nat table, and reports the FORWARD policy.
func CheckChains(ctx context.Context, r Runner, prefix string) Check {
	c := Check{Name: "iptables chains"}
	nat, err := r.Run(ctx, "iptables", "-t", "nat", "-S")
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("iptables -t nat -S: %v", err)
		return c
	}
	policy := "unknown"
	if f, err := r.Run(ctx, "iptables", "-S", "FORWARD"); err == nil {
		for _, l := range strings.Split(f, "\n") {
			if fs := strings.Fields(l); len(fs) == 3 && fs[0] == "-P" && fs[1] == "FORWARD" {
				policy = fs[2]
			}
		}
	}
	chain, jump := false, false
	for _, l := range strings.Split(nat, "\n") {
		fs := strings.Fields(l)
		if len(fs) >= 2 && fs[0] == "-N" && strings.HasPrefix(fs[1], prefix) {
			chain = true
		}
		// A jump from a chain of the host's (PREROUTING, OUTPUT), not one
		// of lxcgate's own jumps between its chains.
		if i := strings.Index(l, " -j "+prefix); i >= 0 && strings.HasPrefix(l, "-A ") && !strings.HasPrefix(l, "-A "+prefix) {
			jump = true
		}
	}
	if !chain || !jump {
		c.Status, c.Detail = Warn, fmt.Sprintf("chains %s* or their jumps missing: a running gateway creates them (FORWARD policy %s)", prefix, policy)
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("chains %s* and jumps present (FORWARD policy %s)", prefix, policy)
	return c
}

// CheckForwardChain looks for lxcgate's FORWARD accept (PREFIX-FWD and the
// jump into it), all that stays in iptables when the DNAT is in nftables,
// and reports the FORWARD policy.
func CheckForwardChain(ctx context.Context, r Runner, prefix string) Check {
	c := Check{Name: "iptables chains"}
	out, err := r.Run(ctx, "iptables", "-S", "FORWARD")
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("iptables -S FORWARD: %v", err)
		return c
	}
	policy, jump := "unknown", false
	for _, l := range strings.Split(out, "\n") {
		fs := strings.Fields(l)
		if len(fs) == 3 && fs[0] == "-P" && fs[1] == "FORWARD" {
			policy = fs[2]
		}
		if strings.HasPrefix(l, "-A FORWARD ") && strings.HasSuffix(strings.TrimSpace(l), "-j "+prefix+"FWD") {
			jump = true
		}
	}
	if !jump {
		c.Status, c.Detail = Warn, fmt.Sprintf("chain %sFWD or its jump from FORWARD missing: a running gateway creates them (FORWARD policy %s)", prefix, policy)
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("chain %sFWD and its jump present (FORWARD policy %s)", prefix, policy)
	return c
}
