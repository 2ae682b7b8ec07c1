package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// nftRunner answers nft with out, or fails as nft does for a missing table.
type nftRunner struct{ out string }

func (n nftRunner) Run(_ context.Context, name string, args ...string) (string, error) {
	if n.out == "" {
		return "Error: No such file or directory", errors.New("exit status 1")
	}
	return n.out, nil
}

const listedTable = `table ip lxcgate {
	map ports {
		type inet_service : ipv4_addr . inet_service
		elements = { 20001 comment "lxcgate:alice/box:ssh:20001:10.0.0.5:22:dnat" : 10.0.0.5 . 22,
			     20002 comment "lxcgate:bob/b:ssh:20002:10.0.0.6:22:dnat" : 10.0.0.6 . 22 }
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local tcp dport 20000-29999 dnat ip to tcp dport map @ports comment "lxcgate:dnat:v1:20000-29999"
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 20000-29999 dnat ip to tcp dport map @ports comment "lxcgate:dnat:v1:20000-29999"
	}
}
`

func TestCheckNFTable(t *testing.T) {
	ctx := context.Background()
	found := func(string) (string, error) { return "/usr/sbin/nft", nil }
	c := CheckNFTable(ctx, nftRunner{listedTable}, found, "lxcgate")
	if c.Status != OK || !strings.Contains(c.Detail, "2 mappings") {
		t.Fatalf("healthy table: %+v", c)
	}
	c = CheckNFTable(ctx, nftRunner{}, found, "lxcgate")
	if c.Status != Warn || !strings.Contains(c.Detail, "missing: a running gateway creates it") {
		t.Fatalf("no table: %+v", c)
	}
	noOutput := strings.Replace(listedTable, "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 20000-29999 dnat ip to tcp dport map @ports", "", 1)
	if c = CheckNFTable(ctx, nftRunner{noOutput}, found, "lxcgate"); c.Status != Warn || !strings.Contains(c.Detail, "repairs it") {
		t.Fatalf("a rule gone: %+v", c)
	}
	missing := func(string) (string, error) { return "", errors.New("not found") }
	if c = CheckNFTable(ctx, nftRunner{listedTable}, missing, "lxcgate"); c.Status != Warn || !strings.Contains(c.Detail, "install nftables") {
		t.Fatalf("no nft: %+v", c)
	}
}

func TestCheckForwardChain(t *testing.T) {
	ctx := context.Background()
	r := scriptRunner{"iptables -S FORWARD": "-P FORWARD DROP\n-A FORWARD -j LXCGATE-FWD\n"}
	if c := CheckForwardChain(ctx, r, "LXCGATE-"); c.Status != OK || !strings.Contains(c.Detail, "FORWARD policy DROP") {
		t.Fatalf("present: %+v", c)
	}
	r = scriptRunner{"iptables -S FORWARD": "-P FORWARD ACCEPT\n-A FORWARD -j OTHER-FWD\n"}
	if c := CheckForwardChain(ctx, r, "LXCGATE-"); c.Status != Warn {
		t.Fatalf("absent: %+v", c)
	}
}
