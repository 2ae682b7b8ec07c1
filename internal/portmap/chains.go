package portmap

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/lxcgate/lxcgate/internal/cli"
)

// forward is the one rule of lxcgate's FORWARD chain: it accepts, in both
// directions, the connections that a DNAT on this host made from a port of
// lxcgate's range, and nothing else. It keeps mappings working where the
// FORWARD policy is DROP (Docker sets that).
func (b *IPTables) forward() string {
	return fmt.Sprintf("-m conntrack --ctstate DNAT --ctproto tcp --ctorigdstport %d:%d -m comment --comment %q -j ACCEPT",
		b.first, b.last, commentPrefix+"forward")
}

type jump struct {
	table, chain string
	spec         []string
}

// jumps are the rules that lead into lxcgate's chains. They match only
// traffic to the host itself (any local address, or the configured ones),
// never traffic passing through to other hosts; OUTPUT leaves loopback
// alone, which DNAT to a bridge could not serve anyway.
func (b *IPTables) jumps() []jump {
	var js []jump
	if b.filterOnly {
		return []jump{{"filter", "FORWARD", []string{"-j", b.filter}}}
	}
	if len(b.addrs) == 0 {
		local := []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", b.nat}
		js = append(js, jump{"nat", "PREROUTING", local},
			jump{"nat", "OUTPUT", append([]string{"!", "-d", "127.0.0.0/8"}, local...)})
	}
	for _, a := range b.addrs {
		d := []string{"-d", a + "/32", "-j", b.nat}
		js = append(js, jump{"nat", "PREROUTING", d}, jump{"nat", "OUTPUT", d})
	}
	return append(js, jump{"filter", "FORWARD", []string{"-j", b.filter}})
}

// Ensure creates the chains and jumps, and removes jumps into lxcgate's
// chains that the configuration no longer wants.
func (b *IPTables) Ensure() error {
	if err := b.ensureChains(); err != nil {
		return err
	}
	if err := b.removeStaleJumps(); err != nil {
		return err
	}
	if b.filterOnly {
		if err := b.dropNATChains(); err != nil {
			return err
		}
	} else if dropped, err := dropTable(b.prefix()); err != nil {
		return b.fail("remove the nftables table "+TableName(b.prefix()), err)
	} else if dropped {
		slog.Info("port mappings: removed lxcgate's nftables table, now in iptables chains again", "table", TableName(b.prefix()))
	}
	if err := b.ensureForwardRule(); err != nil {
		return err
	}
	return b.ensureJumps()
}

// prefix is the configured chain prefix.
func (b *IPTables) prefix() string { return strings.TrimSuffix(b.nat, "-DNAT") }

// ensureChains creates lxcgate's nat and filter chains where missing.
func (b *IPTables) ensureChains() error {
	for _, c := range [][2]string{{"nat", b.nat}, {"filter", b.filter}} {
		if b.filterOnly && c[0] == "nat" {
			continue
		}
		ok, err := b.ipt.ChainExists(c[0], c[1])
		if err != nil {
			return b.fail("list chains", err)
		}
		if !ok {
			if err := b.ipt.NewChain(c[0], c[1]); err != nil {
				return b.fail("create chain "+c[1], err)
			}
		}
	}
	return nil
}

// removeStaleJumps deletes the jumps into lxcgate's chains that jumps() no
// longer lists, and a FORWARD jump that is not first.
func (b *IPTables) removeStaleJumps() error {
	want := map[string]bool{}
	for _, j := range b.jumps() {
		want[j.table+" -A "+j.chain+" "+strings.Join(j.spec, " ")] = true
	}
	for _, tc := range [][2]string{{"nat", "PREROUTING"}, {"nat", "OUTPUT"}, {"filter", "FORWARD"}} {
		lines, err := b.ipt.List(tc[0], tc[1])
		if err != nil {
			return b.fail("list "+tc[1], err)
		}
		for i, l := range lines {
			ours := strings.HasSuffix(l, "-j "+b.nat) || strings.HasSuffix(l, "-j "+b.filter)
			// FORWARD's jump must come first: a rule that rejects before it
			// would break the mappings (lines[0] is the policy line).
			misplaced := tc[1] == "FORWARD" && i != 1
			if ours && (!want[tc[0]+" "+l] || misplaced) {
				spec := strings.Fields(strings.TrimPrefix(l, "-A "+tc[1]+" "))
				if err := b.ipt.Delete(tc[0], tc[1], spec...); err != nil {
					return b.fail("remove a stale jump", err)
				}
			}
		}
	}
	return nil
}

// ensureForwardRule makes lxcgate's FORWARD chain hold exactly the one
// static rule (see forward).
func (b *IPTables) ensureForwardRule() error {
	lines, err := b.ipt.List("filter", b.filter)
	if err != nil {
		return b.fail("list "+b.filter, err)
	}
	if len(lines) == 2 && strings.Contains(lines[1], commentPrefix+"forward") &&
		strings.Contains(lines[1], fmt.Sprintf("--ctorigdstport %d:%d", b.first, b.last)) {
		return nil
	}
	if err := b.ipt.ClearChain("filter", b.filter); err != nil {
		return b.fail("reset "+b.filter, err)
	}
	spec, _ := cli.Split(b.forward())
	if err := b.ipt.Append("filter", b.filter, spec...); err != nil {
		return b.fail("add the forward rule", err)
	}
	return nil
}

// ensureJumps inserts the jumps that jumps() lists and the chains lack.
func (b *IPTables) ensureJumps() error {
	for _, j := range b.jumps() {
		ok, err := b.ipt.Exists(j.table, j.chain, j.spec...)
		if err != nil {
			return b.fail("check jump", err)
		}
		if !ok {
			// First in the chain: a DROP policy or Docker's rules must not
			// see the mapped flows before lxcgate accepts them.
			if err := b.ipt.Insert(j.table, j.chain, 1, j.spec...); err != nil {
				return b.fail("add jump to "+j.chain, err)
			}
		}
	}
	return nil
}

// Flush removes the jumps and lxcgate's chains, for an uninstall.
func (b *IPTables) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blocks, b.genOK = nil, false
	for _, tc := range [][2]string{{"nat", "PREROUTING"}, {"nat", "OUTPUT"}, {"filter", "FORWARD"}} {
		lines, err := b.ipt.List(tc[0], tc[1])
		if err != nil {
			return b.fail("list "+tc[1], err)
		}
		for _, l := range lines {
			if strings.HasSuffix(l, "-j "+b.nat) || strings.HasSuffix(l, "-j "+b.filter) {
				spec := strings.Fields(strings.TrimPrefix(l, "-A "+tc[1]+" "))
				if err := b.ipt.Delete(tc[0], tc[1], spec...); err != nil {
					return b.fail("remove jump", err)
				}
			}
		}
	}
	if err := b.dropNATChains(); err != nil {
		return err
	}
	if !b.filterOnly { // NFTables drops its own table
		if _, err := dropTable(b.prefix()); err != nil {
			return b.fail("remove the nftables table "+TableName(b.prefix()), err)
		}
	}
	ok, err := b.ipt.ChainExists("filter", b.filter)
	if err != nil {
		return b.fail("list chains", err)
	}
	if ok {
		if err := b.ipt.ClearAndDeleteChain("filter", b.filter); err != nil {
			return b.fail("delete chain "+b.filter, err)
		}
	}
	return nil
}

// dropNATChains removes lxcgate's nat chains, whose jumps are gone: for an
// uninstall, or where NFTables took their place (logged once, as the
// migration it is).
func (b *IPTables) dropNATChains() error {
	if ok, err := b.ipt.ChainExists("nat", b.nat); err != nil || !ok {
		return nil // none, or no nat table to hold them
	}
	chains, _, err := b.read()
	if err != nil {
		return err
	}
	if b.filterOnly {
		slog.Info("port mappings: removing lxcgate's iptables nat chains, now in an nftables table of its own", "chains", len(chains))
	}
	var lines []string
	for _, ch := range chains {
		lines = append(lines, "-F "+ch)
	}
	for _, ch := range chains {
		if ch != b.nat {
			lines = append(lines, "-X "+ch)
		}
	}
	for _, ch := range chains {
		if ch == b.nat {
			lines = append(lines, "-X "+ch)
		}
	}
	b.blocks, b.genOK = nil, false
	return b.restore("nat", lines)
}
