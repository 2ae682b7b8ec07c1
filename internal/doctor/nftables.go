package doctor

import (
	"context"
	"fmt"
	"strings"
)

// CheckNFTable reads lxcgate's nftables table with nft(8): the map of
// mappings and the DNAT rule of each of its two chains.
func CheckNFTable(ctx context.Context, r Runner, lookPath func(string) (string, error), table string) Check {
	c := Check{Name: "nftables table"}
	if _, err := lookPath("nft"); err != nil {
		c.Status, c.Detail = Warn, fmt.Sprintf("nft(8) not found: install nftables to inspect table ip %s (the mappings work without it)", table)
		return c
	}
	out, err := r.Run(ctx, "nft", "list", "table", "ip", table)
	if err != nil {
		c.Status, c.Detail = Warn, fmt.Sprintf("table ip %s missing: a running gateway creates it", table)
		return c
	}
	dnat := strings.Count(out, "dnat ip to tcp dport map @ports")
	maps := strings.Count(out, `comment "lxcgate:`) - dnat // each rule's comment is lxcgate's too
	if !strings.Contains(out, "map ports") || dnat != 2 {
		c.Status, c.Detail = Warn, fmt.Sprintf("table ip %s lacks its map or a DNAT rule: a running gateway repairs it within ports.reconcile_interval", table)
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("table ip %s: %d mappings in map ports, DNAT in prerouting and output", table, max(maps, 0))
	return c
}
