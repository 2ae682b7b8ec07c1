package portmap

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"github.com/lxcgate/lxcgate/internal/argv"
)

// IPTables is the Backend on the host's iptables: go-iptables for the
// chains and jumps, one iptables-restore --noflush per table for rules.
type IPTables struct {
	ipt         *iptables.IPTables
	nat, filter string   // lxcgate's chains
	addrs       []string // host addresses to match; empty: any local address
	first, last int      // the host port range
}

// NewIPTables returns the iptables backend for host ports first..last. The
// lock timeout keeps a held xtables lock from blocking the gateway forever
// (go-iptables' default).
func NewIPTables(chainPrefix string, addrs []string, first, last int) (*IPTables, error) {
	ipt, err := iptables.New(iptables.Timeout(5))
	if err != nil {
		return nil, fmt.Errorf("iptables is not usable (%v); install the iptables package and run as root", oneLine(err))
	}
	if chainPrefix == "" {
		chainPrefix = DefaultChainPrefix
	}
	return &IPTables{ipt: ipt, nat: chainPrefix + "-DNAT", filter: chainPrefix + "-FWD", addrs: addrs, first: first, last: last}, nil
}

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
	for _, c := range [][2]string{{"nat", b.nat}, {"filter", b.filter}} {
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
	// The FORWARD chain holds exactly the one static rule.
	lines, err := b.ipt.List("filter", b.filter)
	if err != nil {
		return b.fail("list "+b.filter, err)
	}
	if len(lines) != 2 || !strings.Contains(lines[1], commentPrefix+"forward") ||
		!strings.Contains(lines[1], fmt.Sprintf("--ctorigdstport %d:%d", b.first, b.last)) {
		if err := b.ipt.ClearChain("filter", b.filter); err != nil {
			return b.fail("reset "+b.filter, err)
		}
		spec, _ := argv.Split(b.forward())
		if err := b.ipt.Append("filter", b.filter, spec...); err != nil {
			return b.fail("add the forward rule", err)
		}
	}
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

var commentRE = regexp.MustCompile(`--comment "?([^" ]*)"?`)

// Rules lists the per-mapping rules: those of the DNAT chain.
func (b *IPTables) Rules() ([]Rule, error) {
	lines, err := b.ipt.List("nat", b.nat)
	if err != nil {
		return nil, b.fail("list "+b.nat, err)
	}
	var out []Rule
	for _, l := range lines {
		spec, ok := strings.CutPrefix(l, "-A "+b.nat+" ")
		if !ok {
			continue // the "-N CHAIN" line
		}
		r := Rule{Table: "nat", Spec: spec}
		if m := commentRE.FindStringSubmatch(spec); m != nil {
			r.Comment = m[1]
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *IPTables) chainOf(table string) string {
	if table == "nat" {
		return b.nat
	}
	return b.filter
}

// Apply writes all deletions and additions with one iptables-restore
// --noflush: each table's part applies whole or not at all.
func (b *IPTables) Apply(del, add []Rule) error {
	var in bytes.Buffer
	for _, table := range []string{"nat", "filter"} {
		n := 0
		var part bytes.Buffer
		for _, r := range del {
			if r.Table == table {
				fmt.Fprintf(&part, "-D %s %s\n", b.chainOf(table), r.Spec)
				n++
			}
		}
		for _, r := range add {
			if r.Table == table {
				fmt.Fprintf(&part, "-A %s %s\n", b.chainOf(table), r.Spec)
				n++
			}
		}
		if n > 0 {
			fmt.Fprintf(&in, "*%s\n%sCOMMIT\n", table, part.Bytes())
		}
	}
	if in.Len() == 0 {
		return nil
	}
	// -w: wait for the xtables lock (another tool holding it briefly)
	// rather than fail the whole batch.
	cmd := exec.Command("iptables-restore", "-w", "5", "--noflush")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, oneLine(errors.New(stderr.String()+" ")))
	}
	return nil
}

// ApplyPerRule writes the same changes one iptables call per rule, as
// go-iptables does; kept for the benchmark's comparison.
func (b *IPTables) ApplyPerRule(del, add []Rule) error {
	for _, r := range del {
		spec, err := argv.Split(r.Spec)
		if err != nil {
			return err
		}
		if err := b.ipt.Delete(r.Table, b.chainOf(r.Table), spec...); err != nil {
			return b.fail("delete rule", err)
		}
	}
	for _, r := range add {
		spec, err := argv.Split(r.Spec)
		if err != nil {
			return err
		}
		if err := b.ipt.Append(r.Table, b.chainOf(r.Table), spec...); err != nil {
			return b.fail("add rule", err)
		}
	}
	return nil
}

// Flush removes the jumps and lxcgate's chains, for an uninstall.
func (b *IPTables) Flush() error {
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
	for _, c := range [][2]string{{"nat", b.nat}, {"filter", b.filter}} {
		ok, err := b.ipt.ChainExists(c[0], c[1])
		if err != nil {
			return b.fail("list chains", err)
		}
		if ok {
			if err := b.ipt.ClearAndDeleteChain(c[0], c[1]); err != nil {
				return b.fail("delete chain "+c[1], err)
			}
		}
	}
	return nil
}

func (b *IPTables) fail(what string, err error) error {
	return fmt.Errorf("iptables: %s: %s", what, oneLine(err))
}

func oneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
