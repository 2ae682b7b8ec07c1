package doctor

import (
	"context"
	"fmt"
	"strings"
)

// Runner runs a host command and returns its combined output.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (string, error)
}

// CheckIptablesBackend reports which backend `iptables --version` names.
func CheckIptablesBackend(ctx context.Context, r Runner) Check {
	c := Check{Name: "iptables backend"}
	out, err := r.Run(ctx, "iptables", "--version")
	if err != nil {
		c.Status, c.Detail = Fail, fmt.Sprintf("iptables --version: %v: install iptables", err)
		return c
	}
	v := strings.TrimSpace(out)
	switch {
	case strings.Contains(v, "nf_tables"):
		c.Status, c.Detail = OK, "nf_tables ("+v+")"
	case strings.Contains(v, "legacy"):
		c.Status, c.Detail = OK, "legacy ("+v+")"
	default:
		c.Status, c.Detail = Warn, "unknown backend: "+v
	}
	return c
}
