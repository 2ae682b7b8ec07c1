package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scenario: the gateway has a webhook (a receiver on loopback) and a mail
// server (Debian's aiosmtpd on loopback). alice gives her address and
// launches a container with a short lease: she is told before it runs out
// (webhook and mail) and again when the gateway stops it; bob, without an
// address, gets the webhook only. The webhook's URL is never logged.
func TestNoticesByWebhookAndMail(t *testing.T) {
	need(t, "/usr/bin/aiosmtpd")
	var mu sync.Mutex
	var hooks []map[string]string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		hooks = append(hooks, m)
		mu.Unlock()
	}))
	defer rcv.Close()
	smtpPort := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	smtpd := exec.CommandContext(ctx, "/usr/bin/aiosmtpd", "-n", "-l", "127.0.0.1:"+smtpPort)
	var mails bytes.Buffer
	var mailMu sync.Mutex
	smtpd.Stdout = lockedWriter{&mailMu, &mails}
	if err := smtpd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); smtpd.Wait() }()
	hook := rcv.URL + "/hooks/e2e-secret"
	g, _ := labGW(t, "LXCGATE_NOTIFY_WEBHOOK="+hook, "LXCGATE_NOTIFY_LEASE_WARNING=1h", "LXCGATE_NOTIFY_SMTP_HOST=127.0.0.1",
		"LXCGATE_NOTIFY_SMTP_PORT="+smtpPort, "LXCGATE_NOTIFY_SMTP_FROM=lxcgate@lab.test", "LXCGATE_NOTIFY_SMTP_STARTTLS=false",
		"LXCGATE_PORTS_RECONCILE_INTERVAL=2s")
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	if r := g.sshKey("alice", alice, "", "email", "not-an-address"); r.code == 0 {
		t.Fatalf("a bad address: %+v", r)
	}
	g.must("alice", alice, "", "email", "alice@lab.test")
	if r := g.must("alice", alice, "", "email"); strings.TrimSpace(r.out) != "alice@lab.test" {
		t.Fatalf("email: %+v", r)
	}
	g.must("alice", alice, "", "launch", "box", "--lease", "20s")
	g.must("bob", bob, "", "launch", "bbox", "--lease", "20s")
	got := func(user, part string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooks {
			if h["user"] == user && strings.Contains(h["text"], part) {
				return true
			}
		}
		return false
	}
	mailed := func(part string) bool {
		mailMu.Lock()
		defer mailMu.Unlock()
		return strings.Contains(mails.String(), part)
	}
	waitFor(t, "the lease warnings", 30*time.Second, func() bool {
		return got("alice", "the lease of box runs out") && got("bob", "the lease of bbox runs out") && mailed("the lease of box runs out")
	})
	waitFor(t, "the stop notices", 60*time.Second, func() bool {
		return got("alice", "box was stopped by the gateway: its lease ran out") && mailed("box was stopped by the gateway")
	})
	mailMu.Lock()
	m := mails.String()
	mailMu.Unlock()
	if !strings.Contains(m, "To: alice@lab.test") || strings.Contains(m, "bbox") {
		t.Fatalf("mails:\n%s", m)
	}
	if strings.Contains(g.logs(), "e2e-secret") {
		t.Fatal("the webhook URL reached the log")
	}
}

// lockedWriter serialises writes to a buffer read by the test.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
