package portmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// nfConn is a small nf_tables netlink client beside the iptables tools,
// for what they are slow at on the nft backend: the ruleset generation (to
// know that nothing changed since lxcgate last read or wrote its chains),
// a listing of rules by handle and comment (no translation into iptables
// syntax), and deleting rules by handle. iptables-nft deletes a rule by
// fetching and comparing the chain, and its process exit waits for the
// kernel to free what a commit deleted (an RCU grace period); a socket
// kept open waits for neither.
//
// It writes nothing but deletions: rules are added with iptables-restore,
// which encodes the matches and targets.
type nfConn struct {
	fd  int
	seq uint32
	buf []byte // for answers: the kernel sends at most 32 KiB of a dump at a time
}

const (
	nfnlSubsysNFTables = 10
	nftMsgNewChain     = 3
	nftMsgGetChain     = 4
	nftMsgDelChain     = 5
	nftMsgNewRule      = 6
	nftMsgGetRule      = 7
	nftMsgDelRule      = 8
	nftMsgNewGen       = 15
	nftMsgGetGen       = 16
	nfnlMsgBatchBegin  = 0x10
	nfnlMsgBatchEnd    = 0x11

	nftaChainTable = 1
	nftaChainName  = 3
	nftaRuleTable  = 1
	nftaRuleChain  = 2
	nftaRuleHandle = 3
	nftaRuleExprs  = 4
	nftaRuleUdata  = 7
	nftaListElem   = 1
	nftaExprName   = 1
	nftaExprData   = 2
	nftaMatchName  = 1
	nftaMatchInfo  = 3
	nftaGenID      = 1

	udataRuleComment = 0 // where newer iptables-nft may keep "-m comment"

	netlinkNetfilter = 12
	nlmsgHdrLen      = 16
	nfgenLen         = 4
)

func openNF() (*nfConn, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, netlinkNetfilter)
	if err != nil {
		return nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	// A kernel that does not answer must not hang the gateway.
	tv := syscall.NsecToTimeval(int64(5 * time.Second))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<20)
	return &nfConn{fd: fd, seq: uint32(time.Now().UnixNano())}, nil
}

func (c *nfConn) close() {
	if c != nil && c.fd >= 0 {
		syscall.Close(c.fd)
		c.fd = -1
	}
}

// msg builds one netlink message: header, nfgenmsg, attributes.
func (c *nfConn) msg(typ, flags uint16, family uint8, resID uint16, attrs ...[]byte) ([]byte, uint32) {
	c.seq++
	n := nlmsgHdrLen + nfgenLen
	for _, a := range attrs {
		n += len(a)
	}
	b := make([]byte, n)
	binary.NativeEndian.PutUint32(b[0:], uint32(n))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], c.seq)
	b[16] = family
	binary.BigEndian.PutUint16(b[18:], resID)
	off := nlmsgHdrLen + nfgenLen
	for _, a := range attrs {
		off += copy(b[off:], a)
	}
	return b, c.seq
}

func attr(typ uint16, v []byte) []byte {
	n := 4 + len(v)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], v)
	return b
}

func strAttr(typ uint16, s string) []byte { return attr(typ, append([]byte(s), 0)) }

func be64Attr(typ uint16, v uint64) []byte {
	return attr(typ, binary.BigEndian.AppendUint64(nil, v))
}

func nftType(t uint16) uint16 { return nfnlSubsysNFTables<<8 | t }

// nlMsg is one received message: its type, sequence, and payload after
// the netlink header.
type nlMsg struct {
	typ, flags uint16
	seq        uint32
	body       []byte
}

// errDumpInterrupted: the ruleset changed while a dump ran, so what it
// gave may mix the two states.
var errDumpInterrupted = errors.New("netlink: dump interrupted by a change")

const nlmFDumpIntr = 0x10

// exchange sends b and calls fn with each answer carrying one of seqs,
// until fn says done. Answers to earlier requests are skipped.
func (c *nfConn) exchange(b []byte, seqs map[uint32]bool, fn func(nlMsg) (done bool, err error)) error {
	if err := syscall.Sendto(c.fd, b, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return err
	}
	if c.buf == nil {
		c.buf = make([]byte, 64<<10)
	}
	buf := c.buf
	for {
		n, _, err := syscall.Recvfrom(c.fd, buf, 0)
		if err != nil {
			return err
		}
		for p := buf[:n]; len(p) >= nlmsgHdrLen; {
			l := int(binary.NativeEndian.Uint32(p[0:]))
			if l < nlmsgHdrLen || l > len(p) {
				return errors.New("netlink: truncated message")
			}
			m := nlMsg{typ: binary.NativeEndian.Uint16(p[4:]), flags: binary.NativeEndian.Uint16(p[6:]),
				seq: binary.NativeEndian.Uint32(p[8:]), body: p[nlmsgHdrLen:l]}
			p = p[min((l+3)&^3, len(p)):]
			if !seqs[m.seq] {
				continue
			}
			done, err := fn(m)
			if err != nil || done {
				return err
			}
		}
	}
}

const (
	nlmsgError = 2
	nlmsgDone  = 3
)

// errno reads an NLMSG_ERROR's code: nil for an acknowledgement.
func errno(m nlMsg) error {
	if len(m.body) < 4 {
		return errors.New("netlink: short error message")
	}
	if e := int32(binary.NativeEndian.Uint32(m.body)); e != 0 {
		return syscall.Errno(-e)
	}
	return nil
}

// attrs walks the attributes after the nfgenmsg header.
func attrs(body []byte, fn func(typ uint16, v []byte)) {
	if len(body) < nfgenLen {
		return
	}
	nested(body[nfgenLen:], fn)
}

func cstr(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

// generation returns the ruleset generation, which every commit to any
// nf_tables table of the network namespace moves on.
func (c *nfConn) generation() (uint32, error) {
	b, seq := c.msg(nftType(nftMsgGetGen), syscall.NLM_F_REQUEST, syscall.AF_UNSPEC, 0)
	var gen uint32
	found := false
	err := c.exchange(b, map[uint32]bool{seq: true}, func(m nlMsg) (bool, error) {
		switch m.typ {
		case nlmsgError:
			return true, errno(m)
		case nftType(nftMsgNewGen):
			attrs(m.body, func(t uint16, v []byte) {
				if t == nftaGenID && len(v) == 4 {
					gen, found = binary.BigEndian.Uint32(v), true
				}
			})
			return true, nil
		}
		return false, nil
	})
	if err == nil && !found {
		err = errors.New("netlink: no generation in the answer")
	}
	return gen, err
}

// nfRule is a rule as the kernel lists it: its chain, handle and the
// comment iptables-nft stored with it ("" for none).
type nfRule struct {
	chain   string
	handle  uint64
	comment string
}

// dump runs a dump request and calls fn with each answer of type want.
func (c *nfConn) dump(b []byte, seq uint32, want uint16, fn func(body []byte)) error {
	intr := false
	return c.exchange(b, map[uint32]bool{seq: true}, func(m nlMsg) (bool, error) {
		intr = intr || m.flags&nlmFDumpIntr != 0
		switch m.typ {
		case nlmsgDone:
			if intr {
				return true, errDumpInterrupted
			}
			if len(m.body) >= 4 { // a dump's own error, if any
				return true, errno(m)
			}
			return true, nil
		case nlmsgError:
			return true, errno(m)
		case want:
			fn(m.body)
		}
		return false, nil
	})
}

// rules lists the rules of an IPv4 table, or of one of its chains.
func (c *nfConn) rules(table, chain string) ([]nfRule, error) {
	as := [][]byte{strAttr(nftaRuleTable, table)}
	if chain != "" {
		as = append(as, strAttr(nftaRuleChain, chain))
	}
	b, seq := c.msg(nftType(nftMsgGetRule), syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP, syscall.AF_INET, 0, as...)
	var out []nfRule
	err := c.dump(b, seq, nftType(nftMsgNewRule), func(body []byte) {
		var r nfRule
		attrs(body, func(t uint16, v []byte) {
			switch t {
			case nftaRuleChain:
				r.chain = cstr(v)
			case nftaRuleHandle:
				if len(v) == 8 {
					r.handle = binary.BigEndian.Uint64(v)
				}
			case nftaRuleExprs:
				if c := matchComment(v); c != "" {
					r.comment = c
				}
			case nftaRuleUdata:
				if c := udataComment(v); c != "" {
					r.comment = c
				}
			}
		})
		out = append(out, r)
	})
	return out, err
}

// nested walks nested attributes.
func nested(v []byte, fn func(typ uint16, v []byte)) {
	for len(v) >= 4 {
		l := int(binary.NativeEndian.Uint16(v[0:]))
		if l < 4 || l > len(v) {
			return
		}
		fn(binary.NativeEndian.Uint16(v[2:])&0x3fff, v[4:l])
		v = v[min((l+3)&^3, len(v)):]
	}
}

// matchComment reads the comment of an xt "comment" match among a rule's
// expressions, as iptables-nft writes "-m comment": its info is the
// comment, NUL-terminated (struct xt_comment_info).
func matchComment(exprs []byte) string {
	comment := ""
	nested(exprs, func(t uint16, elem []byte) {
		if t != nftaListElem {
			return
		}
		name, data := namedData(elem, nftaExprName, nftaExprData)
		if name != "match" {
			return
		}
		mname, info := namedData(data, nftaMatchName, nftaMatchInfo)
		if mname == "comment" && comment == "" {
			comment = cstr(info)
		}
	})
	return comment
}

// namedData reads the name (a NUL-terminated string of type nameType) and
// the payload (of type dataType) among nested attributes, as an
// expression and an xt match both carry them.
func namedData(v []byte, nameType, dataType uint16) (name string, data []byte) {
	nested(v, func(t uint16, v []byte) {
		switch t {
		case nameType:
			name = cstr(v)
		case dataType:
			data = v
		}
	})
	return name, data
}

// udataComment reads the comment from a rule's user data: type-length-value
// entries of one byte each for type and length.
func udataComment(v []byte) string {
	for len(v) >= 2 {
		t, l := v[0], int(v[1])
		if 2+l > len(v) {
			return ""
		}
		if t == udataRuleComment {
			return cstr(v[2 : 2+l])
		}
		v = v[2+l:]
	}
	return ""
}

// chains lists the chain names of an IPv4 table.
func (c *nfConn) chains(table string) ([]string, error) {
	b, seq := c.msg(nftType(nftMsgGetChain), syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP, syscall.AF_INET, 0, strAttr(nftaChainTable, table))
	var out []string
	err := c.dump(b, seq, nftType(nftMsgNewChain), func(body []byte) {
		var tbl, name string
		attrs(body, func(t uint16, v []byte) {
			switch t {
			case nftaChainTable:
				tbl = cstr(v)
			case nftaChainName:
				name = cstr(v)
			}
		})
		if tbl == table {
			out = append(out, name)
		}
	})
	return out, err
}

// deleteRules deletes rules by handle, then the chains named, all in one
// transaction: all go or none does.
func (c *nfConn) deleteRules(table string, rs []nfRule, chains []string) error {
	if len(rs)+len(chains) == 0 {
		return nil
	}
	begin, beginSeq := c.msg(nfnlMsgBatchBegin, syscall.NLM_F_REQUEST, syscall.AF_UNSPEC, nfnlSubsysNFTables)
	batch := begin
	seqs := map[uint32]bool{beginSeq: true}
	for _, r := range rs {
		m, seq := c.msg(nftType(nftMsgDelRule), syscall.NLM_F_REQUEST|syscall.NLM_F_ACK, syscall.AF_INET, 0,
			strAttr(nftaRuleTable, table), strAttr(nftaRuleChain, r.chain), be64Attr(nftaRuleHandle, r.handle))
		batch = append(batch, m...)
		seqs[seq] = true
	}
	for _, ch := range chains {
		m, seq := c.msg(nftType(nftMsgDelChain), syscall.NLM_F_REQUEST|syscall.NLM_F_ACK, syscall.AF_INET, 0,
			strAttr(nftaChainTable, table), strAttr(nftaChainName, ch))
		batch = append(batch, m...)
		seqs[seq] = true
	}
	end, _ := c.msg(nfnlMsgBatchEnd, syscall.NLM_F_REQUEST, syscall.AF_UNSPEC, nfnlSubsysNFTables)
	batch = append(batch, end...)
	acks := 0
	var first error
	return c.exchange(batch, seqs, func(m nlMsg) (bool, error) {
		if m.typ != nlmsgError {
			return false, nil
		}
		if m.seq == beginSeq { // the batch as a whole was refused
			return true, fmt.Errorf("delete rules: %w", errno(m))
		}
		if err := errno(m); err != nil && first == nil {
			first = fmt.Errorf("delete rule: %w", err)
		}
		acks++
		if acks == len(rs)+len(chains) {
			return true, first
		}
		return false, nil
	})
}
