package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/gateway/gatewaytest"
	"github.com/lxcgate/lxcgate/internal/sshtest"
	"github.com/lxcgate/lxcgate/internal/users"
)

// runSSH runs cmd as user over SSH and returns stdout, stderr and the
// exit status.
func runSSH(t *testing.T, g *gatewaytest.Gateway, user, password, cmd string) (string, string, int) {
	t.Helper()
	c, err := gossh.Dial("tcp", g.Addrs().SSH.String(), &gossh.ClientConfig{
		User: user, Auth: []gossh.AuthMethod{gossh.Password(password)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return sshtest.Run(t, c, cmd)
}

// The whole graph serves: a launch over SSH gets an address and a port
// mapping in the chains, the web listener answers, and a shutdown drains.
func TestServeLaunchAndShutdown(t *testing.T) {
	g := gatewaytest.Start(t, nil)
	if _, err := g.Users().Add(context.Background(), "alice", users.RoleUser, "alice-password"); err != nil {
		t.Fatal(err)
	}
	out, errw, code := runSSH(t, g, "alice", "alice-password", "launch dev")
	if code != 0 || !strings.Contains(errw, "Launched dev (10.166.0.") || !strings.HasPrefix(out, "ssh -p ") {
		t.Fatalf("launch: %d %q %q", code, out, errw)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rules, _ := g.Chains.Rules(); len(rules) == 0; rules, _ = g.Chains.Rules() {
		if time.Now().After(deadline) {
			t.Fatalf("no port mapping in the chains; log:\n%s", g.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + g.Addrs().Web.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := g.Stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, want := range []string{"lxcgate listening", "web listening", "containers reconciled with LXD", "draining", "stopped"} {
		if !strings.Contains(g.Log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, g.Log)
		}
	}
}

// A reload applies the live keys, names the others, and refuses a
// configuration that does not validate.
func TestReload(t *testing.T) {
	g := gatewaytest.Start(t, func(c *config.Config) { c.Web.Listen = "" })
	next := g.Config
	next.Quota.GPUs = 4
	next.Ports.Range = "30000-30099"
	next.SSH.Listen = ":1" // a --listen given to serve stays
	if err := g.Reload(next); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(g.Log.String(), `msg="reload: configuration read" applied=quota.gpus needs_restart=ports.range`) {
		t.Errorf("log:\n%s", g.Log)
	}
	bad := next
	bad.Log.Level = "loud"
	if err := g.Reload(bad); err == nil || !strings.Contains(g.Log.String(), "reload: the configuration was not applied") {
		t.Errorf("invalid configuration: %v\n%s", err, g.Log)
	}
}
