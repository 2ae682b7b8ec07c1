package portmap

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/coreos/go-iptables/iptables"

	"github.com/lxcgate/lxcgate/internal/cli"
)

// IPTables is the Backend on the host's iptables: go-iptables for the
// chains and jumps, iptables-restore --noflush for rules, and on the nft
// backend netlink to read rules and delete them by handle (see nfConn).
type IPTables struct {
	ipt         *iptables.IPTables
	nat, filter string   // lxcgate's chains
	addrs       []string // host addresses to match; empty: any local address
	first, last int      // the host port range

	mu        sync.Mutex
	nf        *nfConn
	nfTried   bool
	noNetlink bool           // the iptables tools only, as on the legacy backend
	blocks    map[int]*block // the block chains as last read and written; nil: unknown
	gen       uint32         // the ruleset generation at which they were so
	genOK     bool
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
		spec, _ := cli.Split(b.forward())
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

// Apply adds rules (one iptables-restore, which creates the blocks they
// need), then deletes rules (by handle in one netlink transaction on the
// nft backend, else in one iptables-restore). Adding first means a mapping
// that moves (a new address) is never absent. A block chain listed for
// deletion goes with its jump unless this call adds to it.
func (b *IPTables) Apply(del, add []Rule) (err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() {
		if err != nil {
			b.blocks, b.genOK = nil, false // read afresh before the next write
		}
	}()
	if b.blocks == nil {
		if _, err := b.rules(); err != nil {
			return err
		}
	}
	adding := map[int]bool{}
	if len(add) > 0 {
		var lines []string
		for _, r := range add {
			n, err := blockFor(r)
			if err != nil {
				return err
			}
			bl := b.blocks[n]
			if bl == nil {
				bl = &block{}
				b.blocks[n] = bl
			}
			if !bl.chain {
				lines = append(lines, "-N "+b.blockChain(n))
				bl.chain = true
			}
			if !bl.jump {
				lines = append(lines, "-A "+b.nat+" "+b.dispatch(n))
				bl.jump, bl.jumpHandle, bl.jumpSpec = true, 0, b.dispatch(n)
			}
			adding[n] = true
			lines = append(lines, "-A "+b.blockChain(n)+" "+r.Spec)
		}
		if err := b.commit(func() error { return b.restore("nat", lines) }); err != nil {
			return err
		}
	}
	if len(del) == 0 {
		return nil
	}
	if c := b.nfconn(); c != nil {
		return b.deleteNF(c, del, adding)
	}
	var lines []string
	for _, r := range del {
		switch n, isBlock := b.blockOf(r.Chain); {
		case r.Spec == "" && r.Handle == 0 && isBlock:
			if bl := b.blocks[n]; bl != nil && !adding[n] {
				if bl.jump {
					lines = append(lines, "-D "+b.nat+" "+bl.jumpSpec)
				}
				lines = append(lines, "-F "+r.Chain, "-X "+r.Chain)
				delete(b.blocks, n)
			}
		case r.Chain != "":
			lines = append(lines, "-D "+r.Chain+" "+r.Spec)
		default:
			n, err := blockFor(r)
			if err != nil {
				return err
			}
			lines = append(lines, "-D "+b.blockChain(n)+" "+r.Spec)
		}
	}
	return b.commit(func() error { return b.restore("nat", lines) })
}

// deleteNF deletes by handle: the handles of rules lxcgate added itself
// are looked up, by comment, in their blocks only.
func (b *IPTables) deleteNF(c *nfConn, del []Rule, adding map[int]bool) error {
	var rs []nfRule
	var chains []string
	missing := false
	lookup := map[string]bool{} // chains to list for handles
	for _, r := range del {
		if r.Handle == 0 && r.Spec != "" && r.Comment != "" {
			n, err := blockFor(r)
			if err != nil {
				return err
			}
			lookup[b.blockChain(n)] = true
		}
	}
	handles := map[string][]uint64{} // chain + " " + comment
	for ch := range lookup {
		listed, err := c.rules("nat", ch)
		if err != nil {
			b.nfFailed()
			return fmt.Errorf("netlink: list %s: %w", ch, err)
		}
		for _, l := range listed {
			k := ch + " " + l.comment
			handles[k] = append(handles[k], l.handle)
		}
	}
	for _, r := range del {
		n, isBlock := b.blockOf(r.Chain)
		switch {
		case r.Spec == "" && r.Handle == 0 && isBlock:
			if bl := b.blocks[n]; bl != nil && !adding[n] {
				if bl.jump && bl.jumpHandle != 0 {
					rs = append(rs, nfRule{chain: b.nat, handle: bl.jumpHandle})
				} else if bl.jump {
					continue // a jump added since the last read: its handle is not known here
				}
				chains = append(chains, r.Chain)
				delete(b.blocks, n)
			}
		case r.Handle != 0:
			rs = append(rs, nfRule{chain: r.Chain, handle: r.Handle})
		default:
			n, _ := blockFor(r)
			ch := b.blockChain(n)
			k := ch + " " + r.Comment
			if hs := handles[k]; len(hs) > 0 {
				rs = append(rs, nfRule{chain: ch, handle: hs[0]})
				handles[k] = hs[1:]
			} else {
				missing = true // gone already, behind lxcgate's back
			}
		}
	}
	// Something was not as lxcgate knew it: the next reconcile reads all.
	defer func() {
		if missing {
			b.genOK = false
		}
	}()
	return b.commit(func() error {
		if err := c.deleteRules("nat", rs, chains); err != nil {
			if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EBUSY) {
				b.nfFailed()
			}
			return fmt.Errorf("netlink: %w", err)
		}
		return nil
	})
}

// restore writes lines to one table in one iptables-restore --noflush:
// they apply whole or not at all.
func (b *IPTables) restore(table string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	var in bytes.Buffer
	fmt.Fprintf(&in, "*%s\n", table)
	for _, l := range lines {
		in.WriteString(l)
		in.WriteByte('\n')
	}
	in.WriteString("COMMIT\n")
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
// go-iptables does (and a few per block it creates); kept for the
// benchmark's comparison.
func (b *IPTables) ApplyPerRule(del, add []Rule) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blocks, b.genOK = nil, false
	made := map[int]bool{}
	for _, r := range add {
		n, err := blockFor(r)
		if err != nil {
			return err
		}
		if made[n] {
			continue
		}
		made[n] = true
		ok, err := b.ipt.ChainExists("nat", b.blockChain(n))
		if err != nil {
			return b.fail("list chains", err)
		}
		if !ok {
			spec, _ := cli.Split(b.dispatch(n))
			if err := b.ipt.NewChain("nat", b.blockChain(n)); err != nil {
				return b.fail("create a block", err)
			}
			if err := b.ipt.Append("nat", b.nat, spec...); err != nil {
				return b.fail("add a jump", err)
			}
		}
	}
	for i, rs := range [][]Rule{del, add} {
		for _, r := range rs {
			spec, err := cli.Split(r.Spec)
			if err != nil {
				return err
			}
			n, err := blockFor(r)
			if err != nil {
				return err
			}
			if i == 0 {
				err = b.ipt.Delete(r.Table, b.blockChain(n), spec...)
			} else {
				err = b.ipt.Append(r.Table, b.blockChain(n), spec...)
			}
			if err != nil {
				return b.fail("write rule", err)
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
	chains, _, err := b.read()
	if err != nil {
		return err
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
	if err := b.restore("nat", lines); err != nil {
		return err
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
