package doctor

import (
	"context"
	"strings"
	"testing"
)

func TestCheckMemberRoutes(t *testing.T) {
	ctx := context.Background()
	r := scriptRunner{
		"ip -4 route show match 10.200.1.130": "default via 10.0.0.1 dev eth0\n10.200.1.0/24 via 10.166.0.241 dev lxdbr0\n",
		"ip -4 route show match 10.200.2.130": "default via 10.0.0.1 dev eth0\n",
	}
	m1 := Member{Name: "member1", URL: "https://10.166.0.241:8443", Online: true, Subnet: "10.200.1.128/25"}
	m2 := Member{Name: "member2", URL: "https://10.166.0.242:8443", Online: true, Subnet: "10.200.2.128/25"}
	if c := CheckMemberRoutes(ctx, r, []Member{m1}); c.Status != OK || !strings.Contains(c.Detail, "member1=10.200.1.128/25") {
		t.Fatalf("routed: %+v", c)
	}
	c := CheckMemberRoutes(ctx, r, []Member{m1, m2})
	if c.Status != Fail || !strings.Contains(c.Detail, "ip route add 10.200.2.128/25 via 10.166.0.242") {
		t.Fatalf("not routed: %+v", c)
	}
	if c := CheckMemberRoutes(ctx, r, []Member{{Name: "m3", URL: "https://10.166.0.243:8443"}}); c.Status != Warn {
		t.Fatalf("no subnet: %+v", c)
	}
	if c := CheckMemberRoutes(ctx, r, []Member{{Name: "m3", Subnet: "nonsense"}}); c.Status != Fail {
		t.Fatalf("bad subnet: %+v", c)
	}
}
