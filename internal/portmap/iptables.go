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
	filterOnly  bool     // only the FORWARD accept: NFTables does the DNAT

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
	adding, err := b.addRules(add)
	if err != nil {
		return err
	}
	if len(del) == 0 {
		return nil
	}
	if c := b.nfconn(); c != nil {
		return b.deleteNF(c, del, adding)
	}
	return b.deleteRestore(del, adding)
}

// addRules appends add to their blocks in one iptables-restore, creating
// the block chains and jumps they need; it returns the blocks added to.
func (b *IPTables) addRules(add []Rule) (map[int]bool, error) {
	adding := map[int]bool{}
	if len(add) == 0 {
		return adding, nil
	}
	var lines []string
	for _, r := range add {
		n, err := blockFor(r)
		if err != nil {
			return nil, err
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
		return nil, err
	}
	return adding, nil
}

// deleteRestore deletes del in one iptables-restore, by spec: the way
// without netlink. A block chain goes with its jump unless adding has it.
func (b *IPTables) deleteRestore(del []Rule, adding map[int]bool) error {
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
	handles, err := b.nfHandles(c, del)
	if err != nil {
		return err
	}
	rs, chains, missing := b.nfDeletions(del, adding, handles)
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

// nfHandles lists, over netlink, the blocks that del's rules without a
// handle are in, and returns their rules' handles by chain + " " + comment.
func (b *IPTables) nfHandles(c *nfConn, del []Rule) (map[string][]uint64, error) {
	lookup := map[string]bool{} // chains to list for handles
	for _, r := range del {
		if r.Handle == 0 && r.Spec != "" && r.Comment != "" {
			n, err := blockFor(r)
			if err != nil {
				return nil, err
			}
			lookup[b.blockChain(n)] = true
		}
	}
	handles := map[string][]uint64{} // chain + " " + comment
	for ch := range lookup {
		listed, err := c.rules("nat", ch)
		if err != nil {
			b.nfFailed()
			return nil, fmt.Errorf("netlink: list %s: %w", ch, err)
		}
		for _, l := range listed {
			k := ch + " " + l.comment
			handles[k] = append(handles[k], l.handle)
		}
	}
	return handles, nil
}

// nfDeletions turns del into the rules (by handle) and block chains to
// delete; missing reports a rule whose handle was not found.
func (b *IPTables) nfDeletions(del []Rule, adding map[int]bool, handles map[string][]uint64) (rs []nfRule, chains []string, missing bool) {
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
	return rs, chains, missing
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
