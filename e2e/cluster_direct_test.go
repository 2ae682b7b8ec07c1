package e2e

import (
	"strings"
	"testing"
)

// Scenario: alice's container is on another member of the cluster than the
// gateway's LXD: a login into it (alice+web) runs commands there and
// forwards to its loopback, through LXD's own cluster forwarding; bob
// cannot get in.
func TestClusterDirectLogin(t *testing.T) {
	g, keys, _ := clusterGW(t, 31400)
	alice, bob := keys["alice"], keys["bob"]
	if r := g.sshKey("alice", alice, "", "launch", "web", "--host", "member3"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	if r := g.direct("alice+web", alice, "", "hostname; exit 4"); r.code != 4 || r.out != "web\n" {
		t.Fatalf("exec on member3: %+v", r)
	}
	if r := g.direct("alice+web+root", alice, "", "mkdir -p /www && echo on-member3 > /www/index.html && setsid httpd -p 127.0.0.1:8080 -h /www"); r.code != 0 {
		t.Fatalf("httpd: %+v", r)
	}
	lport := freePort(t)
	g.startForward("alice+web", alice, "-L", "127.0.0.1:"+lport+":127.0.0.1:8080")
	if body := getLocal(t, "-L to a container on member3", lport); body != "on-member3\n" {
		t.Fatalf("-L: %q", body)
	}
	if r := g.direct("bob+web", bob, "", "true"); r.code == 0 || !strings.Contains(r.err, "no container by that name") {
		t.Fatalf("bob into alice's web: %+v", r)
	}
}
