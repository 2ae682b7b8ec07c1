package portmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NFTables is the Backend on an nf_tables table of lxcgate's own:
//
//	table ip lxcgate {
//	  map ports { type inet_service : ipv4_addr . inet_service }  # host port -> container
//	  chain prerouting { type nat hook prerouting priority dstnat
//	    meta l4proto tcp fib daddr type local tcp dport FIRST-LAST dnat ip to tcp dport map @ports }
//	  chain output { type nat hook output priority dstnat
//	    ... ip daddr != 127.0.0.0/8 ... the same }
//	}
//
// (with [ports] addresses, "ip daddr @addrs" instead of fib). A mapping is
// one map element whose comment is the mapping's, so adding or removing
// one is a lookup in a hash, whatever the number of mappings, and the
// kernel validates no rule again. Every change is one transaction, over
// netlink with google/nftables.
//
// A DNAT in this table cannot override a DROP in another table's FORWARD,
// so the FORWARD accept stays an iptables rule (see IPTables.forward) on
// hosts that have iptables.
type NFTables struct {
	table       *nftables.Table
	addrs       []net.IP
	first, last int
	fwd         *IPTables // the FORWARD accept and the old layout; nil without iptables

	mu      sync.Mutex
	conn    *nftables.Conn
	nf      *nfConn // reads the ruleset generation, which google/nftables does not
	gen     uint32
	genOK   bool
	tableOK bool // the table was found or made as it should be
}

// The names inside lxcgate's table.
const (
	nftMap        = "ports"
	nftAddrs      = "addrs"
	nftPrerouting = "prerouting"
	nftOutput     = "output"
	// nftTag marks lxcgate's two rules; the version changes when their
	// expressions do, so that an upgrade rewrites them.
	nftTag = "lxcgate:dnat:v1"
)

// Element comments and writes are bounded by the kernel: a comment is at
// most 256 bytes (NFT_USERDATA_MAXLEN) and a netlink attribute, which
// holds a message's element list, at most 64 KiB.
const nftChunk = 256

// TableName is the nf_tables table for a chain prefix: "LXCGATE" ->
// "lxcgate".
func TableName(chainPrefix string) string {
	if chainPrefix == "" {
		chainPrefix = DefaultChainPrefix
	}
	return strings.ToLower(chainPrefix)
}

// NewNFTables returns the backend on table TableName(chainPrefix), or an
// error when the kernel's nf_tables does not answer.
func NewNFTables(chainPrefix string, addrs []string, first, last int) (*NFTables, error) {
	b := &NFTables{table: &nftables.Table{Name: TableName(chainPrefix), Family: nftables.TableFamilyIPv4}, first: first, last: last}
	for _, a := range addrs {
		ip := net.ParseIP(a).To4()
		if ip == nil {
			return nil, fmt.Errorf("ports.addresses: %q is not an IPv4 address", a)
		}
		b.addrs = append(b.addrs, ip)
	}
	if err := b.open(); err != nil {
		return nil, fmt.Errorf("nf_tables is not usable (%v); set [ports] backend = \"iptables\"", oneLine(err))
	}
	if _, err := b.conn.ListTablesOfFamily(nftables.TableFamilyIPv4); err != nil {
		b.Close()
		return nil, fmt.Errorf("nf_tables is not usable (%v); set [ports] backend = \"iptables\"", oneLine(err))
	}
	// Where iptables is installed, it keeps the FORWARD accept and may hold
	// lxcgate's old chains, to be migrated away.
	if fwd, err := NewIPTables(chainPrefix, addrs, first, last); err == nil {
		fwd.filterOnly = true
		b.fwd = fwd
	}
	return b, nil
}

// open dials a lasting netlink socket whose send buffer holds a cold
// reconcile of tens of thousands of elements in one transaction.
func (b *NFTables) open() error {
	big := func(c *netlink.Conn) error {
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = raw.Control(func(fd uintptr) {
			// FORCE passes net.core.wmem_max; as root it is allowed.
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 16<<20); serr != nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<20)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
	c, err := nftables.New(nftables.AsLasting(), nftables.WithSockOptions(big))
	if err != nil {
		return err
	}
	b.conn = c
	return nil
}

// Close releases the netlink sockets.
func (b *NFTables) Close() {
	if b.conn != nil {
		b.conn.CloseLasting()
	}
	if b.nf != nil {
		b.nf.close()
		b.nf = nil
	}
}

// Table is the name of lxcgate's table, for messages.
func (b *NFTables) Table() string { return "ip " + b.table.Name }

func (b *NFTables) portsSet() *nftables.Set {
	return &nftables.Set{Table: b.table, Name: nftMap, IsMap: true, KeyType: nftables.TypeInetService,
		DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)}
}

func (b *NFTables) addrsSet() *nftables.Set {
	return &nftables.Set{Table: b.table, Name: nftAddrs, KeyType: nftables.TypeIPAddr}
}

func (b *NFTables) chain(name string) *nftables.Chain {
	hook := nftables.ChainHookPrerouting
	if name == nftOutput {
		hook = nftables.ChainHookOutput
	}
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{Name: name, Table: b.table, Type: nftables.ChainTypeNAT, Hooknum: hook,
		Priority: nftables.ChainPriorityNATDest, Policy: &accept}
}

// rule is the DNAT rule of a chain: TCP to a local address (not loopback
// in OUTPUT, which DNAT to a bridge could not serve) on a port of the
// range, looked up in the map.
func (b *NFTables) rule(ch *nftables.Chain, ports, addrs *nftables.Set) *nftables.Rule {
	be16 := func(p int) []byte { return binaryutil.BigEndian.PutUint16(uint16(p)) }
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
	if ch.Name == nftOutput {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127, 0, 0, 0}})
	}
	if addrs == nil {
		e = append(e,
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
	} else {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: addrs.Name, SetID: addrs.ID})
	}
	e = append(e,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be16(b.first), ToData: be16(b.last)},
		// The map's data, address . port, fills 32-bit registers 8 and 9,
		// which are the 128-bit register 1.
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: ports.Name, SetID: ports.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 9, Specified: true})
	return &nftables.Rule{Table: b.table, Chain: ch, Exprs: e, UserData: userdata.AppendString(nil, userdata.TypeComment, b.tag())}
}

// tag marks the rules with what they were made from, so that a changed
// range or address list is seen as a rule to rewrite.
func (b *NFTables) tag() string {
	t := nftTag + ":" + strconv.Itoa(b.first) + "-" + strconv.Itoa(b.last)
	for _, a := range b.addrs {
		t += ":" + a.String()
	}
	return t
}

// Ensure migrates lxcgate's iptables nat chains away, keeps the iptables
// FORWARD accept, and makes the table as it should be, repairing what is
// not: a missing or foreign chain, rule or set. Elements are kept.
func (b *NFTables) Ensure() error {
	if b.fwd != nil {
		if err := b.fwd.Ensure(); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ok, err := b.intact()
	if err != nil {
		return b.fail("read table "+b.table.Name, err)
	}
	if ok {
		b.tableOK = true
		return nil
	}
	return b.commit(func() error {
		c := b.conn
		c.AddTable(b.table)
		sets, _ := c.GetSets(b.table)
		chains, _ := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		// Chains first: they reference the sets.
		for _, ch := range chains {
			if ch.Table.Name == b.table.Name {
				c.FlushChain(ch)
				c.DelChain(ch)
			}
		}
		ports, addrs := b.portsSet(), (*nftables.Set)(nil)
		keep := false
		for _, s := range sets {
			switch {
			case s.Name == nftMap && s.IsMap && s.KeyType.Name == ports.KeyType.Name && s.DataType.Name == ports.DataType.Name:
				ports, keep = s, true
			default:
				c.DelSet(s)
			}
		}
		if !keep {
			if err := c.AddSet(ports, nil); err != nil {
				return err
			}
		}
		if len(b.addrs) > 0 {
			addrs = b.addrsSet()
			var els []nftables.SetElement
			for _, a := range b.addrs {
				els = append(els, nftables.SetElement{Key: a})
			}
			if err := c.AddSet(addrs, els); err != nil {
				return err
			}
		}
		for _, name := range []string{nftPrerouting, nftOutput} {
			ch := c.AddChain(b.chain(name))
			c.AddRule(b.rule(ch, ports, addrs))
		}
		if err := c.Flush(); err != nil {
			return err
		}
		b.tableOK = true
		return nil
	})
}

// intact tells whether the table holds exactly lxcgate's chains, each with
// its one tagged rule, the map, and the address set as configured.
func (b *NFTables) intact() (bool, error) {
	c := b.conn
	if _, err := c.ListTableOfFamily(b.table.Name, nftables.TableFamilyIPv4); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return false, nil
		}
		return false, err
	}
	sets, err := c.GetSets(b.table)
	if err != nil {
		return false, err
	}
	want := map[string]bool{nftMap: true}
	if len(b.addrs) > 0 {
		want[nftAddrs] = true
	}
	if len(sets) != len(want) {
		return false, nil
	}
	ports := b.portsSet()
	for _, s := range sets {
		if !want[s.Name] {
			return false, nil
		}
		if s.Name == nftMap && (!s.IsMap || s.KeyType.Name != ports.KeyType.Name || s.DataType.Name != ports.DataType.Name) {
			return false, nil
		}
		if s.Name == nftAddrs {
			els, err := c.GetSetElements(s)
			if err != nil {
				return false, err
			}
			if !sameAddrs(els, b.addrs) {
				return false, nil
			}
		}
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, err
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name != b.table.Name {
			continue
		}
		n++
		w := b.chain(ch.Name)
		if (ch.Name != nftPrerouting && ch.Name != nftOutput) || ch.Type != w.Type || ch.Hooknum == nil ||
			*ch.Hooknum != *w.Hooknum || ch.Priority == nil || *ch.Priority != *w.Priority ||
			ch.Policy == nil || *ch.Policy != nftables.ChainPolicyAccept {
			return false, nil
		}
		rules, err := c.GetRules(b.table, ch)
		if err != nil {
			return false, err
		}
		if len(rules) != 1 {
			return false, nil
		}
		if t, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment); t != b.tag() {
			return false, nil
		}
	}
	return n == 2, nil
}

func sameAddrs(els []nftables.SetElement, want []net.IP) bool {
	if len(els) != len(want) {
		return false
	}
	have := map[string]bool{}
	for _, e := range els {
		have[string(e.Key)] = true
	}
	for _, a := range want {
		if !have[string(a)] {
			return false
		}
	}
	return true
}

// Rules lists the map's elements. An element whose comment does not name
// exactly what it maps (made or changed behind lxcgate's back) comes
// without a comment, to be deleted by its key.
func (b *NFTables) Rules() ([]Rule, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.genOK = false
	before, genOK := b.generation()
	els, err := b.elements()
	if err != nil {
		return nil, err
	}
	after, ok := b.generation()
	b.gen, b.genOK = after, genOK && ok && after == before
	rs := make([]Rule, 0, len(els))
	for _, e := range els {
		port, ip, cport, ok := decodeElement(e)
		if !ok {
			continue
		}
		r := Rule{Table: "nat", Handle: uint64(port), Spec: fmt.Sprintf("tcp dport %d dnat to %s:%d", port, ip, cport)}
		if m, kind, err := ParseComment(e.Comment); err == nil && kind == "dnat" && m.HostPort == port &&
			m.IP == ip && m.ContainerPort == cport {
			r.Comment = e.Comment
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// elements reads the map; no table yet is no elements.
func (b *NFTables) elements() ([]nftables.SetElement, error) {
	els, err := b.conn.GetSetElements(b.portsSet())
	if errors.Is(err, syscall.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, b.fail("list "+b.table.Name+" map "+nftMap, err)
	}
	return els, nil
}

func decodeElement(e nftables.SetElement) (port int, ip string, cport int, ok bool) {
	if len(e.Key) < 2 || len(e.Val) < 6 {
		return 0, "", 0, false
	}
	return int(binary.BigEndian.Uint16(e.Key)), net.IP(e.Val[:4]).String(), int(binary.BigEndian.Uint16(e.Val[4:6])), true
}

// element is the map element of a DNAT rule, from its comment.
func element(r Rule) (nftables.SetElement, error) {
	m, _, err := ParseComment(r.Comment)
	if err != nil {
		return nftables.SetElement{}, err
	}
	ip := net.ParseIP(m.IP).To4()
	if ip == nil {
		return nftables.SetElement{}, fmt.Errorf("mapping %s: %q is not an IPv4 address", r.Comment, m.IP)
	}
	val := make([]byte, 8) // address . port, the port padded to 4 bytes
	copy(val, ip)
	binary.BigEndian.PutUint16(val[4:], uint16(m.ContainerPort))
	return nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(uint16(m.HostPort)), Val: val, Comment: r.Comment}, nil
}

// key is the map key a rule to delete names: the handle a listing gave it,
// else the port in its comment.
func key(r Rule) ([]byte, bool) {
	if r.Handle != 0 && r.Handle <= 65535 {
		return binaryutil.BigEndian.PutUint16(uint16(r.Handle)), true
	}
	m, _, err := ParseComment(r.Comment)
	if err != nil {
		return nil, false
	}
	return binaryutil.BigEndian.PutUint16(uint16(m.HostPort)), true
}

// Apply deletes, then adds, in one transaction: a mapping that moves (a
// new address, same host port) is never absent, and a failure changes
// nothing. Deleting an element that is already gone fails the whole
// transaction; it is then tried once more without such elements.
func (b *NFTables) Apply(del, add []Rule) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var dels, adds []nftables.SetElement
	for _, r := range del {
		if k, ok := key(r); ok {
			dels = append(dels, nftables.SetElement{Key: k})
		}
	}
	for _, r := range add {
		e, err := element(r)
		if err != nil {
			return err
		}
		adds = append(adds, e)
	}
	err := b.commit(func() error { return b.write(dels, adds) })
	if err == nil || len(dels) == 0 {
		return err
	}
	els, rerr := b.elements()
	if rerr != nil {
		return err
	}
	present := map[uint16]bool{}
	for _, e := range els {
		if len(e.Key) >= 2 {
			present[binary.BigEndian.Uint16(e.Key)] = true
		}
	}
	kept := dels[:0]
	for _, d := range dels {
		if present[binary.BigEndian.Uint16(d.Key)] {
			kept = append(kept, d)
		}
	}
	return b.commit(func() error { return b.write(kept, adds) })
}

func (b *NFTables) write(dels, adds []nftables.SetElement) error {
	s := b.portsSet()
	for i := 0; i < len(dels); i += nftChunk {
		if err := b.conn.SetDeleteElements(s, dels[i:min(i+nftChunk, len(dels))]); err != nil {
			return err
		}
	}
	for i := 0; i < len(adds); i += nftChunk {
		if err := b.conn.SetAddElements(s, adds[i:min(i+nftChunk, len(adds))]); err != nil {
			return err
		}
	}
	if err := b.conn.Flush(); err != nil {
		return b.fail("update "+b.table.Name+" map "+nftMap, err)
	}
	return nil
}

// Flush removes lxcgate's table and, where iptables is installed, its
// iptables chains and jumps (the FORWARD accept and any old layout).
func (b *NFTables) Flush() error {
	b.mu.Lock()
	b.genOK, b.tableOK = false, false
	b.conn.DelTable(b.table)
	err := b.conn.Flush()
	b.mu.Unlock()
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return b.fail("delete table "+b.table.Name, err)
	}
	if b.fwd != nil {
		return b.fwd.Flush()
	}
	return nil
}

// Unchanged reports that nothing was committed to nf_tables since lxcgate
// last read or wrote its table (see IPTables.Unchanged).
func (b *NFTables) Unchanged() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.genOK || !b.tableOK {
		return false
	}
	g, ok := b.generation()
	return ok && g == b.gen
}

func (b *NFTables) generation() (uint32, bool) {
	if b.nf == nil {
		c, err := openNF()
		if err != nil {
			return 0, false
		}
		b.nf = c
	}
	g, err := b.nf.generation()
	if err != nil {
		b.nf.close()
		b.nf = nil
		return 0, false
	}
	return g, true
}

// commit runs one transaction, keeping the generation known only when it
// was the only commit since the generation was last known.
func (b *NFTables) commit(write func() error) error {
	return trackCommit(&b.gen, &b.genOK, b.generation, write)
}

func (b *NFTables) fail(what string, err error) error {
	return fmt.Errorf("nftables: %s: %s", what, oneLine(err))
}

// dropTable deletes lxcgate's nftables table for chainPrefix, if there is
// one: where the iptables backend follows the nftables one, the table's
// DNAT would otherwise go on answering, stale (its chains hook the same
// packets). No nf_tables at all is no table.
func dropTable(chainPrefix string) (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, nil
	}
	name := TableName(chainPrefix)
	if _, err := c.ListTableOfFamily(name, nftables.TableFamilyIPv4); err != nil {
		return false, nil
	}
	c.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyIPv4})
	if err := c.Flush(); err != nil && !errors.Is(err, syscall.ENOENT) {
		return false, err
	}
	return true, nil
}

// NFTablesUsable tells whether the host should use NFTables: the kernel
// answers nf_tables over netlink and iptables, where installed, is not
// the legacy one (whose rules lxcgate's table would then sit beside).
func NFTablesUsable() bool {
	if out, err := exec.Command("iptables", "-V").Output(); err == nil && strings.Contains(string(out), "legacy") {
		return false
	}
	c, err := nftables.New()
	if err != nil {
		return false
	}
	_, err = c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	return err == nil
}
