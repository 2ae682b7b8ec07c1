package portmap

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// How lxcgate's nat rules are laid out in blocks of host ports, and how
// they are read back.

// blockSize is how many host ports share one chain of DNAT rules: the
// dispatch chain PREFIX-DNAT jumps on the destination port to the block's
// chain PREFIX-D<port/blockSize>, so that however many containers run, the
// dispatch chain holds at most 1,024 jumps and a block at most 64 rules. A
// new connection walks two short chains rather than one long one, and one
// container's rules are looked up in a chain of that size.
const blockSize = 64

func (b *IPTables) blockChain(n int) string { return b.nat[:len(b.nat)-len("NAT")] + strconv.Itoa(n) }

// blockOf reads a block's number from its chain name, PREFIX-D<n>.
func (b *IPTables) blockOf(chain string) (int, bool) {
	rest, ok := strings.CutPrefix(chain, b.nat[:len(b.nat)-len("NAT")])
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || strconv.Itoa(n) != rest || n < 0 || n*blockSize > 65535 {
		return 0, false
	}
	return n, true
}

func dispatchComment(n int) string { return commentPrefix + "block:" + strconv.Itoa(n) }

// dispatch is the jump of PREFIX-DNAT into block n.
func (b *IPTables) dispatch(n int) string {
	return fmt.Sprintf(`-p tcp -m tcp --dport %d:%d -m comment --comment "%s" -j %s`,
		n*blockSize, min(n*blockSize+blockSize-1, 65535), dispatchComment(n), b.blockChain(n))
}

// block is what lxcgate knows of one block: whether its chain and the
// jump into it exist, and (as listed) the jump's handle and spec.
type block struct {
	chain, jump bool
	jumpHandle  uint64
	jumpSpec    string
}

// listed is one rule of lxcgate's nat chains as read back.
type listed struct {
	chain, comment, spec string
	handle               uint64
}

// nfconn returns the netlink connection, nil where the iptables tools
// must do everything (the legacy backend, or netlink refused).
func (b *IPTables) nfconn() *nfConn {
	if b.nf != nil || b.nfTried || b.noNetlink {
		return b.nf
	}
	b.nfTried = true
	if out, err := exec.Command("iptables", "-V").Output(); err != nil || !bytes.Contains(out, []byte("nf_tables")) {
		return nil
	}
	c, err := openNF()
	if err != nil {
		return nil
	}
	if _, err := c.generation(); err != nil {
		c.close()
		return nil
	}
	b.nf = c
	return c
}

// nfFailed drops a connection that failed; the next call opens another.
func (b *IPTables) nfFailed() {
	b.nf.close()
	b.nf, b.nfTried = nil, false
}

// generation returns the ruleset generation, when netlink tells it.
func (b *IPTables) generation() (uint32, bool) {
	c := b.nfconn()
	if c == nil {
		return 0, false
	}
	g, err := c.generation()
	if err != nil {
		b.nfFailed()
		return 0, false
	}
	return g, true
}

// Unchanged reports that the chains are as lxcgate last read or wrote
// them: no commit to nf_tables in the network namespace, by anyone, since.
// A reconcile with nothing to change can then skip reading them.
func (b *IPTables) Unchanged() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.genOK || b.blocks == nil {
		return false
	}
	g, ok := b.generation()
	return ok && g == b.gen
}

// commit runs one write that commits once, and keeps the generation
// known only when that commit was the only one since it was last known.
func (b *IPTables) commit(write func() error) error {
	return trackCommit(&b.gen, &b.genOK, b.generation, write)
}

// trackCommit runs write, a single commit to nf_tables, between two reads
// of the ruleset generation: *gen stays known (*genOK) only when it was
// known before and the write's commit was the only one in between.
func trackCommit(gen *uint32, genOK *bool, read func() (uint32, bool), write func() error) error {
	before, ok := read()
	known := ok && *genOK && before == *gen
	err := write()
	after, ok := read()
	*genOK = err == nil && known && ok && after == before+1
	*gen = after
	return err
}

// read lists lxcgate's nat chains and their rules: by netlink on the nft
// backend (again when a change interrupted the listing), else with
// iptables -S.
func (b *IPTables) read() (chains []string, rules []listed, err error) {
	for try := 0; ; try++ {
		chains, rules, err = b.read1()
		if !errors.Is(err, errDumpInterrupted) || try == 2 {
			return chains, rules, err
		}
	}
}

func (b *IPTables) read1() (chains []string, rules []listed, err error) {
	ours := func(chain string) bool {
		_, ok := b.blockOf(chain)
		return ok || chain == b.nat
	}
	if c := b.nfconn(); c != nil {
		all, err := c.chains("nat")
		if errors.Is(err, syscall.ENOENT) {
			return nil, nil, nil // no nat table yet: nothing of lxcgate's either
		}
		// Chain by chain: the kernel resumes a dump of a whole table by
		// skipping what it already sent, quadratic in the table's rules.
		for _, ch := range all {
			if err != nil || !ours(ch) {
				continue
			}
			chains = append(chains, ch)
			var rs []nfRule
			rs, err = c.rules("nat", ch)
			if errors.Is(err, syscall.ENOENT) {
				err = errDumpInterrupted // the chain went since the list of chains
			}
			for _, r := range rs {
				rules = append(rules, listed{chain: r.chain, comment: r.comment, handle: r.handle})
			}
		}
		switch {
		case err == nil:
			return chains, rules, nil
		case errors.Is(err, errDumpInterrupted):
			return nil, nil, err
		}
		b.nfFailed()
		return nil, nil, fmt.Errorf("netlink: list nat: %w", err)
	}
	out, err := exec.Command("iptables", "-w", "5", "-t", "nat", "-S").Output()
	if err != nil {
		return nil, nil, b.fail("list nat", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if ch, ok := strings.CutPrefix(l, "-N "); ok && ours(ch) {
			chains = append(chains, ch)
		}
		if r, ok := parseRuleLine(l); ok && ours(r.chain) {
			rules = append(rules, r)
		}
	}
	return chains, rules, nil
}

// parseRuleLine reads one "-A CHAIN SPEC" line of iptables -S: the chain,
// the spec, and the comment found in it.
func parseRuleLine(l string) (listed, bool) {
	rest, ok := strings.CutPrefix(l, "-A ")
	if !ok {
		return listed{}, false
	}
	ch, spec, _ := strings.Cut(rest, " ")
	r := listed{chain: ch, spec: spec}
	if m := commentRE.FindStringSubmatch(spec); m != nil {
		r.comment = m[1]
	}
	return r, true
}

// Rules lists the per-mapping rules: those of the block chains, each in
// the block of its host port. What else it finds in lxcgate's nat chains
// comes back without a comment, for the Mapper to delete as strays: a rule
// in the wrong block or in a block that PREFIX-DNAT does not jump to, a
// foreign rule, a second jump to one block, and a block chain left empty
// (a Rule with neither spec nor handle: the chain and its jump).
func (b *IPTables) Rules() ([]Rule, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rules()
}

func (b *IPTables) rules() ([]Rule, error) {
	b.blocks, b.genOK = nil, false
	before, genOK := b.generation()
	chains, listed, err := b.read()
	if err != nil {
		return nil, err
	}
	blocks := map[int]*block{}
	for _, ch := range chains {
		if n, ok := b.blockOf(ch); ok {
			blocks[n] = &block{chain: true}
		}
	}
	var out []Rule
	for _, l := range listed {
		if l.chain != b.nat {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(l.comment, commentPrefix+"block:"))
		if bl := blocks[n]; err == nil && l.comment == dispatchComment(n) && bl != nil && !bl.jump {
			bl.jump, bl.jumpHandle, bl.jumpSpec = true, l.handle, l.spec
			continue
		}
		out = append(out, Rule{Table: "nat", Chain: l.chain, Handle: l.handle, Spec: l.spec})
	}
	used := map[int]bool{}
	for _, l := range listed {
		n, ok := b.blockOf(l.chain)
		if !ok {
			continue
		}
		used[n] = true
		r := Rule{Table: "nat", Chain: l.chain, Comment: l.comment, Handle: l.handle, Spec: l.spec}
		if m, kind, err := ParseComment(l.comment); err != nil || kind != "dnat" || m.HostPort/blockSize != n || !blocks[n].jump {
			r.Comment = ""
		}
		out = append(out, r)
	}
	for n := range blocks {
		if !used[n] {
			out = append(out, Rule{Table: "nat", Chain: b.blockChain(n)})
		}
	}
	b.blocks = blocks
	after, ok := b.generation()
	b.gen, b.genOK = after, genOK && ok && after == before
	return out, nil
}

// blockFor returns the block a per-mapping rule belongs in.
func blockFor(r Rule) (int, error) {
	m, _, err := ParseComment(r.Comment)
	if err != nil || m.HostPort < 0 || m.HostPort > 65535 {
		return 0, fmt.Errorf("rule without a mapping comment: %q", r.Spec)
	}
	return m.HostPort / blockSize, nil
}
