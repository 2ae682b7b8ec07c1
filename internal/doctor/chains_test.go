package doctor

import (
	"context"
	"strings"
	"testing"
)

type scriptRunner map[string]string

func (s scriptRunner) Run(_ context.Context, name string, args ...string) (string, error) {
	return s[name+" "+strings.Join(args, " ")], nil
}

func TestCheckChains(t *testing.T) {
	ctx := context.Background()
	r := scriptRunner{
		"iptables -t nat -S":  "-P PREROUTING ACCEPT\n-N LXCGATE-DNAT\n-A PREROUTING -j LXCGATE-DNAT\n",
		"iptables -S FORWARD": "-P FORWARD DROP\n",
	}
	c := CheckChains(ctx, r, "LXCGATE-")
	if c.Status != OK || !strings.Contains(c.Detail, "DROP") {
		t.Fatalf("%+v", c)
	}
	r["iptables -t nat -S"] = "-P PREROUTING ACCEPT\n"
	if c := CheckChains(ctx, r, "LXCGATE-"); c.Status != Warn {
		t.Fatalf("%+v", c)
	}
}
