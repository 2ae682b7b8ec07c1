package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenario: a monitoring system scrapes a gateway in use. Logins, a
// failed one included, commands and a launch show in the counters; the
// launched container and its published port show in the gauges; and no
// user or container name ever appears in what is scraped.
func TestMetricsScrape(t *testing.T) {
	addr := "127.0.0.1:" + freePort(t)
	g, _ := portsGW(t, "LXCGATE_METRICS_LISTEN="+addr, "LXCGATE_PORTS_RECONCILE_INTERVAL=2s")
	key := g.addUser("secretname", "secret-password", false)
	g.start()
	waitFor(t, "/readyz 200", 60*time.Second, func() bool { code, _ := scrape(t, addr, "/readyz"); return code == 200 })
	if code, body := scrape(t, addr, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if r := g.sshPassword("secretname", "secret-password", "password", "whoami"); r.code != 0 {
		t.Fatalf("password login: %+v", r)
	}
	if r := g.sshPassword("secretname", "wrong-password", "password", "whoami"); r.code == 0 {
		t.Fatalf("a wrong password logged in: %+v", r)
	}
	if r := g.sshKey("secretname", key, "", "secretname"); r.code == 0 {
		t.Fatalf("an unknown command succeeded: %+v", r)
	}
	if r := g.sshKey("secretname", key, "", "launch", "secretbox"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	var body string
	waitFor(t, "the running container and its rule in /metrics", 30*time.Second, func() bool {
		_, body = scrape(t, addr, "/metrics")
		running, _ := sample(body, `lxcgate_containers{state="running"}`)
		rules, _ := sample(body, `lxcgate_portmap_rules`)
		return running >= 1 && rules >= 1
	})
	for series, atLeast := range map[string]float64{
		`lxcgate_ssh_logins_total{method="password",result="ok"}`:    1,
		`lxcgate_ssh_logins_total{method="password",result="fail"}`:  1,
		`lxcgate_ssh_logins_total{method="publickey",result="ok"}`:   2,
		`lxcgate_commands_total{command="whoami",result="ok"}`:       1,
		`lxcgate_commands_total{command="launch",result="ok"}`:       1,
		`lxcgate_commands_total{command="unknown",result="unknown"}`: 1,
		`lxcgate_lxd_operation_seconds_count{operation="create"}`:    1,
		`lxcgate_lxd_operation_seconds_count{operation="list"}`:      1,
		`lxcgate_portmap_reconcile_seconds_count`:                    1,
		`lxcgate_sessions_open`:                                      0,
		`lxcgate_gpus_assigned`:                                      0,
		`lxcgate_containers{state="stopped"}`:                        0,
	} {
		if v, ok := sample(body, series); !ok || v < atLeast {
			t.Errorf("%s = %v (present %v), want at least %v", series, v, ok, atLeast)
		}
	}
	for _, name := range []string{"secretname", "secretbox", "secret-password"} {
		if strings.Contains(body, name) {
			t.Errorf("/metrics carries %q", name)
		}
	}
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "lxcgate_") && !strings.Contains(l, "_bucket{") {
			lines = append(lines, l)
		}
	}
	t.Logf("lxcgate series:\n%s", strings.Join(lines, "\n"))
}

// Scenario: LXD is not reachable. The gateway still serves (/healthz)
// but says it cannot do its work (/readyz 503, naming LXD).
func TestMetricsNotReadyWithoutLXD(t *testing.T) {
	addr := "127.0.0.1:" + freePort(t)
	g := newGW(t, "LXCGATE_METRICS_LISTEN="+addr, "LXCGATE_CONTAINERS_LXD_SOCKET=/nonexistent/lxd/unix.socket",
		"LXCGATE_PORTS_CHAIN_PREFIX=E2E"+strconv.Itoa(int(time.Now().UnixNano()%1e8)))
	g.start()
	waitFor(t, "/healthz 200", 10*time.Second, func() bool { code, _ := scrape(t, addr, "/healthz"); return code == 200 })
	code, body := scrape(t, addr, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "LXD") || strings.Count(body, "\n") != 1 {
		t.Fatalf("/readyz without LXD: %d %q", code, body)
	}
	t.Logf("/readyz without LXD: %d %s", code, body)
	if code, _ := scrape(t, addr, "/metrics"); code != 200 {
		t.Fatalf("/metrics without LXD: %d", code)
	}
}
