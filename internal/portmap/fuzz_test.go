package portmap

import (
	"encoding/binary"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/mapping"
)

var fuzzMapping = mapping.Mapping{Owner: "alice", Name: "web", Service: "http", HostPort: 20080, IP: "10.10.0.5", ContainerPort: 80}

// FuzzParseComment checks that ParseComment never panics, accepts nothing
// without the "lxcgate:" prefix, and that what it accepts is a fixed point:
// formatted again as commentOf does, it parses to the same mapping
// and kind.
func FuzzParseComment(f *testing.F) {
	for _, s := range []string{
		"",
		commentOf(fuzzMapping, "dnat"),
		commentOf(fuzzMapping, "forward"),
		"lxcgate:forward",
		"lxcgate:",
		"lxcgate:::::",
		"lxcgate:a/b:c:1:1.2.3.4:2",
		"lxcgate:a/b:c:1:1.2.3.4:2:dnat:extra",
		"lxcgate:a/b/c:s:+1:ip:-0:k",
		"lxcgate:a:s:99999999999999999999:ip:1:k",
		"lxcgate:alice/web:http:20080:10.10.0.5:80:dnat\x00",
		"LXCGATE:alice/web:http:20080:10.10.0.5:80:dnat",
		" lxcgate:alice/web:http:20080:10.10.0.5:80:dnat",
		`"lxcgate:alice/web:http:20080:10.10.0.5:80:dnat"`,
		`lxcgate:a\/b:c\:d:1:1.2.3.4:2:dnat`,
		"lxcgate:\u00e4/\u65e5:\U0001F600:1:::2:",
		"generated for LXD network lxdbr0",
		"\xff\xfelxcgate:",
		"lxcgate:" + strings.Repeat("a", 5000) + ":s:1:ip:2:k",
		strings.Repeat("lxcgate:", 1000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		m, kind, err := ParseComment(c)
		if err != nil {
			if m != (mapping.Mapping{}) || kind != "" {
				t.Fatalf("ParseComment(%q) failed (%v) but returned %+v, %q", c, err, m, kind)
			}
			return
		}
		if !strings.HasPrefix(c, commentPrefix) {
			t.Fatalf("ParseComment(%q) accepted a comment without %q: %+v", c, commentPrefix, m)
		}
		for _, s := range []string{m.Owner, m.Name, m.Service, m.IP, kind} {
			if strings.Contains(s, ":") {
				t.Fatalf("ParseComment(%q) = %+v, %q: a field holds ':'", c, m, kind)
			}
		}
		if strings.Contains(m.Owner, "/") {
			t.Fatalf("ParseComment(%q): owner %q holds '/'", c, m.Owner)
		}
		again := commentOf(m, kind)
		m2, kind2, err := ParseComment(again)
		if err != nil || m2 != m || kind2 != kind {
			t.Fatalf("ParseComment(%q) = %+v, %q; formatted as %q it parses to %+v, %q, %v", c, m, kind, again, m2, kind2, err)
		}
	})
}

var lowerName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// lowercase maps s onto a lowercase name (lowerName), keeping what of s
// already fits, so that the fuzzer's strings all make valid mappings.
func lowercase(s string) string {
	const first, rest = "abcdefghijklmnopqrstuvwxyz_", "abcdefghijklmnopqrstuvwxyz0123456789_-"
	var b strings.Builder
	for i := 0; i < len(s) && i < 32; i++ {
		set := rest
		if i == 0 {
			set = first
		}
		c := s[i]
		if strings.IndexByte(set, c) < 0 {
			c = set[int(c)%len(set)]
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// FuzzMappingComment builds a valid Mapping from the fuzzed fields (names
// made lowercase words, ports 1-65535, an IPv4 address) and checks that its
// comment parses back to it, and that its DNAT rule, as iptables lists it
// with or without quotes, yields the comment that Rules reads, which is also
// the word after --comment when the spec is split for iptables.
func FuzzMappingComment(f *testing.F) {
	f.Add("alice", "web", "http", uint16(20080), uint32(0x0a0a0005), uint16(80), "dnat")
	f.Add("_svc", "box-1", "ssh", uint16(1), uint32(0), uint16(65535), "forward")
	f.Add("a", "b", "c", uint16(65535), uint32(0xffffffff), uint16(1), "x")
	f.Add("Alice", "web", "http", uint16(0), uint32(1), uint16(0), "dnat")
	f.Add("a:b", "c/d", "e f", uint16(2), uint32(2), uint16(3), "dnat\"")
	f.Fuzz(func(t *testing.T, owner, name, service string, hostPort uint16, ip uint32, containerPort uint16, kind string) {
		owner, name, service, kind = lowercase(owner), lowercase(name), lowercase(service), lowercase(kind)
		hostPort, containerPort = max(hostPort, 1), max(containerPort, 1)
		addr := netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
		m := mapping.Mapping{Owner: owner, Name: name, Service: service, HostPort: int(hostPort), IP: addr.String(), ContainerPort: int(containerPort)}

		for _, s := range []string{owner, name, service, kind} {
			if !lowerName.MatchString(s) {
				t.Fatalf("lowercase made %q", s)
			}
		}

		c := commentOf(m, kind)
		got, gotKind, err := ParseComment(c)
		if err != nil || got != m || gotKind != kind {
			t.Fatalf("ParseComment(%q) = %+v, %q, %v; want %+v, %q", c, got, gotKind, err, m, kind)
		}

		rs := rulesOf(m)
		if len(rs) != 1 || rs[0].Table != "nat" || rs[0].Comment != commentOf(m, "dnat") {
			t.Fatalf("rules of %+v: %+v", m, rs)
		}
		r := rs[0]
		chain := DefaultChainPrefix + "-DNAT"
		quoted := "-A " + chain + " " + r.Spec
		bare := strings.Replace(quoted, `"`+r.Comment+`"`, r.Comment, 1)
		for _, line := range []string{quoted, bare} {
			cm, ok := listedComment(line, chain)
			if !ok || cm != r.Comment {
				t.Fatalf("listed as %q, the rule's comment reads as %q (ok=%v); want %q", line, cm, ok, r.Comment)
			}
			if got, kind, err := ParseComment(cm); err != nil || got != m || kind != "dnat" {
				t.Fatalf("listed comment %q parses to %+v, %q, %v", cm, got, kind, err)
			}
		}
		words, err := cli.Split(r.Spec)
		if i := slices.Index(words, "--comment"); err != nil || i < 0 || i+1 >= len(words) || words[i+1] != r.Comment {
			t.Fatalf("cli.Split(%q) = %q, %v; want %q after --comment", r.Spec, words, err, r.Comment)
		}
		if i := slices.Index(words, "--dport"); i < 0 || i+1 >= len(words) || words[i+1] != strconv.Itoa(m.HostPort) {
			t.Fatalf("cli.Split(%q) = %q: no --dport %d", r.Spec, words, m.HostPort)
		}
	})
}

// listedComment reads a line of `iptables -S` as IPTables.read does (the
// path without netlink): lines other than "-A CHAIN ..." are skipped, and
// the comment is what commentRE finds in the rest.
func listedComment(line, chain string) (string, bool) {
	r, ok := parseRuleLine(line)
	if !ok || r.chain != chain {
		return "", false
	}
	if !strings.HasPrefix(line, "-A "+chain+" ") && line != "-A "+chain {
		return "", false
	}
	return r.comment, true
}

// FuzzRuleLine checks that reading a listed rule line never panics, and
// that a comment read from it holds no quote or space (it must be one
// iptables word) and is part of the line.
func FuzzRuleLine(f *testing.F) {
	chain := DefaultChainPrefix + "-DNAT"
	spec := rulesOf(fuzzMapping)[0].Spec
	for _, s := range []string{
		"",
		"-N " + chain,
		"-A " + chain + " " + spec,
		"-A " + chain + " " + strings.ReplaceAll(spec, `"`, ""),
		"-A " + chain + " -p tcp --dport 1 -j ACCEPT",
		"-A " + chain + " -m comment --comment",
		"-A " + chain + " -m comment --comment \"",
		"-A " + chain + " -m comment --comment \"\"",
		"-A " + chain + " -m comment --comment \"a b\" -j DNAT",
		"-A " + chain + " -m comment --comment \"lxcgate:a\\\"b\" -j DNAT",
		"-A " + chain + " -m comment --comment 'lxcgate:x' --comment \"lxcgate:y\"",
		"-A " + chain + " -m comment --comment \"lxcgate:\x00\"",
		"-A " + chain + " -m comment --comment \"lxcgate:\u00e4/\u65e5:s:1:ip:2:dnat\"",
		"-A OTHER-DNAT " + spec,
		"-A " + chain + " --comment\t\"lxcgate:tab\"",
		"-A " + chain + " " + strings.Repeat("--comment ", 2000),
		"\xff-A " + chain + " --comment \xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, ok := listedComment(line, chain)
		if !ok {
			if strings.HasPrefix(line, "-A "+chain+" ") {
				t.Fatalf("rule line %q skipped", line)
			}
			return
		}
		if strings.ContainsAny(c, "\" ") {
			t.Fatalf("rule line %q: comment %q holds a quote or space", line, c)
		}
		if c != "" && !strings.Contains(line, "--comment") {
			t.Fatalf("rule line %q: comment %q without --comment", line, c)
		}
		if !strings.Contains(line, c) {
			t.Fatalf("rule line %q: comment %q is not part of it", line, c)
		}
	})
}

// nfRuleMsg builds a rule as the kernel lists it (after the netlink
// header): chain, handle, and expressions with an xt comment match.
func nfRuleMsg(chain string, handle uint64, comment string) []byte {
	info := make([]byte, 256)
	copy(info, comment)
	match := append(strAttr(nftaMatchName, "comment"), attr(nftaMatchInfo, info)...)
	elem := append(strAttr(nftaExprName, "match"), attr(nftaExprData, match)...)
	counter := append(strAttr(nftaExprName, "counter"), attr(nftaExprData, nil)...)
	exprs := append(attr(nftaListElem, counter), attr(nftaListElem, elem)...)
	body := []byte{syscall.AF_INET, 0, 0, 0}
	body = append(body, strAttr(nftaRuleTable, "nat")...)
	body = append(body, strAttr(nftaRuleChain, chain)...)
	body = append(body, be64Attr(nftaRuleHandle, handle)...)
	return append(body, attr(nftaRuleExprs, exprs)...)
}

// FuzzNetlinkRule checks that reading a rule as the kernel lists it never
// panics on any bytes, and that a comment match written as iptables-nft
// writes it reads back whole (up to the first NUL, at most 255 bytes).
func FuzzNetlinkRule(f *testing.F) {
	f.Add(nfRuleMsg("LXCGATE-D312", 7, commentOf(fuzzMapping, "dnat")), commentOf(fuzzMapping, "dnat"))
	f.Add([]byte{}, "")
	f.Add([]byte{2, 0, 0, 0, 4, 0, 4, 0}, "lxcgate:block:5")
	f.Add([]byte{2, 0, 0, 0, 8, 0, 4, 0, 255, 255, 1, 0}, "a\x00b")
	f.Add(nfRuleMsg("X", 1, strings.Repeat("c", 300)), strings.Repeat("c", 300))
	f.Fuzz(func(t *testing.T, raw []byte, comment string) {
		attrs(raw, func(typ uint16, v []byte) {
			switch typ {
			case nftaRuleExprs:
				matchComment(v)
			case nftaRuleUdata:
				udataComment(v)
			}
		})
		want := comment
		if i := strings.IndexByte(want, 0); i >= 0 {
			want = want[:i]
		}
		if len(want) > 255 {
			want = want[:255]
			comment = want
		}
		var got nfRule
		attrs(nfRuleMsg("C", 42, comment), func(typ uint16, v []byte) {
			switch typ {
			case nftaRuleChain:
				got.chain = cstr(v)
			case nftaRuleHandle:
				got.handle = binary.BigEndian.Uint64(v)
			case nftaRuleExprs:
				got.comment = matchComment(v)
			}
		})
		if got != (nfRule{chain: "C", handle: 42, comment: want}) {
			t.Fatalf("comment %q reads back as %+v", comment, got)
		}
	})
}
