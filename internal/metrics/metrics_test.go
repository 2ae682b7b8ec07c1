package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func fakeSources(lxdErr, syncErr error) Sources {
	return Sources{
		Inventory: func() Inventory { return Inventory{Containers: map[string]int{"Running": 2, "Frozen": 1}, GPUs: 3} },
		Rules:     func() int { return 4 },
		Synced:    func() error { return syncErr },
		LXD:       func(context.Context) error { return lxdErr },
	}
}

func TestMetricNamesAndLabels(t *testing.T) {
	m := New()
	m.Watch(fakeSources(nil, nil))
	m.Login("password", "ok")
	m.Login("keyboard-interactive", "locked")
	m.Command("list", "ok")
	m.SessionOpened()
	m.LXDOperation("start", 30*time.Millisecond)
	m.Reconciled(10*time.Millisecond, nil)
	code, body := get(t, m.Handler(), "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`lxcgate_ssh_logins_total{method="password",result="ok"} 1`,
		`lxcgate_ssh_logins_total{method="keyboard-interactive",result="locked"} 1`,
		`lxcgate_commands_total{command="list",result="ok"} 1`,
		`lxcgate_sessions_open 1`,
		`lxcgate_containers{state="running"} 2`,
		`lxcgate_containers{state="frozen"} 1`,
		`lxcgate_containers{state="stopped"} 0`,
		`lxcgate_portmap_rules 4`,
		`lxcgate_gpus_assigned 3`,
		`lxcgate_lxd_operation_seconds_count{operation="start"} 1`,
		`lxcgate_portmap_reconcile_seconds_count 1`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// Whatever a caller passes, a name never becomes a label value.
func TestLabelsNeverCarryNames(t *testing.T) {
	m := New()
	const secret = "secretname"
	m.Watch(Sources{Inventory: func() Inventory {
		return Inventory{Containers: map[string]int{secret + " box": 1, "Running": 1}}
	}})
	m.Login(secret, secret)
	m.Login("password", "fail "+secret)
	m.Command("Secret Name", "ok")
	m.Command("list", secret)
	m.Command(strings.Repeat("a", 40), "ok")
	m.LXDOperation("start "+secret, time.Second)
	_, body := get(t, m.Handler(), "/metrics")
	if strings.Contains(body, "secret") || strings.Contains(body, strings.Repeat("a", 40)) {
		t.Fatalf("a name leaked into /metrics:\n%s", grep(body, "lxcgate_"))
	}
	for _, want := range []string{
		`lxcgate_ssh_logins_total{method="other",result="other"} 1`,
		`lxcgate_commands_total{command="unknown",result="ok"} 2`,
		`lxcgate_commands_total{command="list",result="other"} 1`,
		`lxcgate_lxd_operation_seconds_count{operation="other"} 1`,
		`lxcgate_containers{state="other"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grep(body, "lxcgate_"))
		}
	}
}

func grep(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHealthAndReady(t *testing.T) {
	for _, tc := range []struct {
		name        string
		src         *Sources
		code        int
		wantInReply string
	}{
		{"starting", nil, 503, "starting"},
		{"ready", ptr(fakeSources(nil, nil)), 200, "ready"},
		{"lxd down", ptr(fakeSources(errors.New("LXD is not reachable"), nil)), 503, "LXD does not answer"},
		{"chains out of sync", ptr(fakeSources(nil, errors.New("iptables failed\nsecond line"))), 503, "port mappings not in sync: iptables failed"},
	} {
		m := New()
		if tc.src != nil {
			m.Watch(*tc.src)
		}
		if code, body := get(t, m.Handler(), "/healthz"); code != 200 || body != "ok\n" {
			t.Errorf("%s: /healthz %d %q", tc.name, code, body)
		}
		code, body := get(t, m.Handler(), "/readyz")
		if code != tc.code || !strings.Contains(body, tc.wantInReply) || strings.Count(body, "\n") != 1 {
			t.Errorf("%s: /readyz %d %q, want %d with %q on one line", tc.name, code, body, tc.code, tc.wantInReply)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Probes reuse LXD's answer for a while, and wait at most lxdTimeout.
func TestReadyAsksLXDSparingly(t *testing.T) {
	m := New()
	var calls atomic.Int32
	src := fakeSources(nil, nil)
	src.LXD = func(ctx context.Context) error {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the LXD probe has no deadline")
		}
		return nil
	}
	m.Watch(src)
	for i := 0; i < 5; i++ {
		if code, _ := get(t, m.Handler(), "/readyz"); code != 200 {
			t.Fatalf("/readyz %d", code)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("LXD asked %d times for 5 probes, want 1", n)
	}
}

func TestListen(t *testing.T) {
	m := New()
	srv, addr, err := m.Listen("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz %d", resp.StatusCode)
	}
	if resp, err := http.Post("http://"+addr.String()+"/metrics", "text/plain", nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /metrics: %d", resp.StatusCode)
		}
	}
	if _, _, err := m.Listen(addr.String(), slog.Default()); err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Errorf("second listen on %s: %v", addr, err)
	}
}
