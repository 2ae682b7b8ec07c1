package server

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/sshtest"
)

// countMetrics records what the server reports.
type countMetrics struct {
	mu       sync.Mutex
	logins   []string
	sessions int
	peak     int
}

func (m *countMetrics) Login(method, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.logins = append(m.logins, method+" "+result)
}

func (m *countMetrics) SessionOpened() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions++
	m.peak = max(m.peak, m.sessions)
}

func (m *countMetrics) SessionClosed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions--
}

func (m *countMetrics) snapshot() (string, int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := append([]string(nil), m.logins...)
	sort.Strings(l)
	return strings.Join(l, ","), m.sessions, m.peak
}

// Logins are counted by method and result, "none" probes aside; sessions
// open and close; lockouts count apart from failures.
func TestMetricsHooks(t *testing.T) {
	met := &countMetrics{}
	g := startGateway(t, func(o *Options) { o.Metrics = met })
	c, err := g.dial(t, "alice", gossh.Password("alice-password"))
	if err != nil {
		t.Fatal(err)
	}
	sshtest.Run(t, c, "whoami")
	c.Close()
	for i := 0; i < 4; i++ { // the account locks after 3 failures
		if c, err := g.dial(t, "alice", gossh.Password("wrong")); err == nil {
			c.Close()
		}
	}
	if c, err := g.dial(t, "bob", gossh.PublicKeys(g.bobK)); err == nil {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		logins, open, peak := met.snapshot()
		want := "password fail,password fail,password fail,password locked,password ok,publickey ok"
		if logins == want && open == 0 && peak == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("logins %q (want %q), open %d, peak %d", logins, want, open, peak)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *countMetrics) ContainerSession(string, int64, int64) {}
