package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/testlog"
	"github.com/lxcgate/lxcgate/internal/users"
)

type receiver struct {
	mu     sync.Mutex
	bodies []map[string]string
	fail   int // answer 500 this many times first
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	var m map[string]string
	json.NewDecoder(req.Body).Decode(&m)
	r.bodies = append(r.bodies, m)
}

func (r *receiver) got() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]string(nil), r.bodies...)
}

// A notice reaches the webhook and, for a user with an address, the mail
// server; a dedupe key sends it once; a failing channel is retried with
// backoff, and the webhook's URL (a secret) is never logged.
func TestNotices(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	us := users.New(db)
	for _, n := range []string{"alice", "bob"} {
		us.Add(ctx, n, users.RoleUser, "")
	}
	rcv := &receiver{fail: 1}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	logs := &testlog.Buffer{}
	secretURL := srv.URL + "/hooks/s3cr3t-token"
	n := New(db, Config{Webhook: secretURL, SMTP: SMTP{Host: "mail.test", Port: 25, From: "gw@lab.test"}}, slog.New(slog.NewTextHandler(logs, nil)))
	clock := time.Now()
	n.now = func() time.Time { return clock }
	var mu sync.Mutex
	var mails []string
	n.send = func(_ context.Context, c SMTP, to, subject, text string) error {
		mu.Lock()
		defer mu.Unlock()
		mails = append(mails, to+"|"+subject+"|"+text)
		return nil
	}
	if err := n.SetEmail(ctx, "alice", "alice@lab.test"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"not an address", "a@b\r\nBcc: x@y", "Alice <alice@lab.test>", "x@y>"} {
		if err := n.SetEmail(ctx, "alice", bad); err == nil {
			t.Errorf("address %q accepted", bad)
		}
	}
	if err := n.SetEmail(ctx, "nobody", "n@lab.test"); err == nil {
		t.Error("an address for a user who does not exist")
	}
	n.Notify(ctx, "alice", KindLease, "lease:alice/box:1:1h0m0s", "lxcgate: the lease of box runs out at 12:00 UTC, in 1h")
	n.Notify(ctx, "alice", KindLease, "lease:alice/box:1:1h0m0s", "lxcgate: the lease of box runs out at 12:00 UTC, in 59m")
	n.Notify(ctx, "bob", KindStopped, "", "lxcgate: b was stopped by the gateway: its lease ran out")
	n.Deliver(ctx) // the webhook fails once
	if got := rcv.got(); len(got) != 1 {
		t.Fatalf("webhook after one failure: %v", got)
	}
	if len(mails) != 1 || !strings.HasPrefix(mails[0], "alice@lab.test|lxcgate: the lease of box runs out at 12|") {
		t.Fatalf("mails: %q", mails)
	}
	n.Deliver(ctx) // not due yet
	if got := rcv.got(); len(got) != 1 {
		t.Fatalf("retried before its time: %v", got)
	}
	clock = clock.Add(31 * time.Second)
	n.Deliver(ctx)
	got := rcv.got()
	if len(got) != 2 || got[0]["user"] == got[1]["user"] || !strings.Contains(got[0]["text"]+got[1]["text"], "lease of box") {
		t.Fatalf("webhook: %v", got)
	}
	n.Deliver(ctx)
	if len(rcv.got()) != 2 || len(mails) != 1 {
		t.Fatal("sent twice")
	}
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Fatalf("the webhook URL reached the log:\n%s", logs.String())
	}
}

// Mail that cannot go out stays queued, and goes once the server is back.
func TestMailRetried(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	users.New(db).Add(ctx, "alice", users.RoleUser, "")
	n := New(db, Config{SMTP: SMTP{Host: "mail.test", Port: 25, From: "gw@lab.test"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	clock := time.Now()
	n.now = func() time.Time { return clock }
	down := true
	sent := 0
	n.send = func(context.Context, SMTP, string, string, string) error {
		if down {
			return errors.New("smtp: connection refused")
		}
		sent++
		return nil
	}
	n.SetEmail(ctx, "alice", "alice@lab.test")
	n.Notify(ctx, "alice", KindQueue, "queue:1", "lxcgate: box, queued for 1 GPUs, was launched")
	for i := 0; i < 3; i++ {
		n.Deliver(ctx)
		clock = clock.Add(5 * time.Minute)
	}
	down = false
	n.Deliver(ctx)
	if sent != 1 {
		t.Fatalf("sent %d after the server came back", sent)
	}
}

func TestSubject(t *testing.T) {
	if got := subject("lxcgate: box was stopped by the gateway: its lease ran out"); got != "lxcgate: box was stopped by the gateway" {
		t.Fatalf("subject: %q", got)
	}
}

// With no webhook or mail, a notice still reaches the member's open
// sessions, once per dedupe key.
func TestLiveOnce(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	users.New(db).Add(ctx, "alice", users.RoleUser, "")
	n := New(db, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var told []string
	n.SetLive(func(user, text string) { told = append(told, user+": "+text) })
	for i := 0; i < 3; i++ {
		n.Notify(ctx, "alice", KindIdle, "idle:alice/box:1", "lxcgate: box has been idle for 3h30m and stops in 30m unless used")
	}
	n.Notify(ctx, "alice", KindStopped, "", "lxcgate: box was stopped by the gateway")
	if len(told) != 2 {
		t.Fatalf("told: %q", told)
	}
	n.Deliver(ctx) // nothing for the other channels
}
