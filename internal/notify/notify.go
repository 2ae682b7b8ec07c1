// Package notify tells members what the gateway did or is about to do to
// their containers (a lease running out, an idle stop coming, an
// automatic stop, a queued launch started or failed), beyond the login
// banner: a POST to a webhook (JSON with a "text" field, which Slack and
// Mattermost take) and an email to the member's address. Notices go
// through an outbox in the database, retried with backoff, so that a
// restart or a dead mail server loses none and the sweep never waits.
// Neither a webhook URL nor a mail password reaches the log or the audit.
package notify

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// Config is where notices go.
type Config struct {
	Webhook string // URL; "" for none
	SMTP    SMTP   // Host "" for no email
}

// SMTP is the mail server notices are sent through.
type SMTP struct {
	Host     string
	Port     int
	From     string
	StartTLS bool   // required: refuse to send without it
	User     string // "" for no authentication
	Password string // read from the configured file
}

// Notifier queues notices and delivers them.
type Notifier struct {
	db   *sql.DB
	st   *store.Store
	log  *slog.Logger
	cfg  atomic.Pointer[Config]
	http *http.Client
	kick chan struct{}
	now  func() time.Time
	send func(ctx context.Context, c SMTP, to, subject, text string) error // sendMail; tests replace it
	live func(user, text string)                                           // SetLive's: the member's open sessions
}

// SetLive makes notices appear at once, as a line, on the member's open
// gateway sessions (the shell's Tell); set before Run.
func (n *Notifier) SetLive(f func(user, text string)) { n.live = f }

// New returns a Notifier; Run delivers.
func New(db *sql.DB, cfg Config, log *slog.Logger) *Notifier {
	n := &Notifier{db: db, st: store.New(), log: log.With("component", "notify"), kick: make(chan struct{}, 1),
		http: &http.Client{Timeout: 10 * time.Second}, now: time.Now, send: sendMail}
	n.cfg.Store(&cfg)
	return n
}

// SetConfig applies a reloaded configuration.
func (n *Notifier) SetConfig(c Config) { n.cfg.Store(&c) }

// Notice kinds.
const (
	KindLease   = "lease"   // a lease runs out soon
	KindIdle    = "idle"    // an idle stop comes
	KindStopped = "stopped" // the gateway stopped a container
	KindQueue   = "queue"   // a queued launch started or failed
)

// Notify queues text for user on every channel configured (the webhook;
// email where the user has an address). A notice with a dedupe key is
// queued once, however often it is asked for. It never fails the caller:
// a failure is logged.
func (n *Notifier) Notify(ctx context.Context, user, kind, dedupe, text string) {
	c := n.cfg.Load()
	live := n.live
	if c.Webhook == "" && c.SMTP.Host == "" && live == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	tellNow := false
	err := store.Tx(ctx, n.db, func(q store.Querier) error {
		now := n.now()
		if live != nil {
			// Written at once on the member's open sessions; the row keeps
			// the dedupe key, so that a warning is said once.
			id, err := n.st.Outbox.Add(ctx, q, store.OutboxItem{Owner: user, Kind: kind, Dedupe: dedupe, Channel: "session",
				Text: text, Created: now})
			if err != nil {
				return err
			}
			if id != 0 {
				tellNow = true
				if err := n.st.Outbox.Sent(ctx, q, id, now); err != nil {
					return err
				}
			}
		}
		if c.Webhook != "" {
			if _, err := n.st.Outbox.Add(ctx, q, store.OutboxItem{Owner: user, Kind: kind, Dedupe: dedupe, Channel: "webhook",
				Text: text, Created: now}); err != nil {
				return err
			}
		}
		if c.SMTP.Host != "" {
			addr, err := n.st.Outbox.Email(ctx, q, user)
			if err != nil || addr == "" {
				return err
			}
			if _, err := n.st.Outbox.Add(ctx, q, store.OutboxItem{Owner: user, Kind: kind, Dedupe: dedupe, Channel: "email",
				Target: addr, Text: text, Created: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.log.Warn("queueing a notice failed", "user", user, "kind", kind, "err", err)
		return
	}
	if tellNow {
		live(user, text)
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// ErrBadAddress: what was given is not a plain email address.
var ErrBadAddress = errors.New("not an email address such as alice@lab.example")

// SetEmail sets user's notice address ("" clears it).
func (n *Notifier) SetEmail(ctx context.Context, user, address string) error {
	if address != "" {
		a, err := mail.ParseAddress(address)
		if err != nil || a.Name != "" || a.Address != address || strings.ContainsAny(address, "\r\n<>") {
			return fmt.Errorf("%q is %w", address, ErrBadAddress)
		}
	}
	err := n.st.Outbox.SetEmail(ctx, n.db, user, address)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no such user %s", user)
	}
	return err
}

// Email is user's notice address; "" when none.
func (n *Notifier) Email(ctx context.Context, user string) (string, error) {
	return n.st.Outbox.Email(ctx, n.db, user)
}

// Backoff: 30 s, doubling, at most an hour between tries; an item is
// given up after maxAttempts.
const (
	firstRetry  = 30 * time.Second
	maxRetry    = time.Hour
	maxAttempts = 30
)

// Run delivers what is due until ctx ends: at once when kicked, and every
// every otherwise.
func (n *Notifier) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n.Deliver(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		}
	}
}

// Deliver sends what is due, one at a time.
func (n *Notifier) Deliver(ctx context.Context) {
	items, err := n.st.Outbox.Due(ctx, n.db, n.now(), 50)
	if err != nil {
		n.log.Warn("reading the outbox failed", "err", err)
		return
	}
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		err := n.deliver(ctx, it)
		if err == nil {
			if err := n.st.Outbox.Sent(ctx, n.db, it.ID, n.now()); err != nil {
				n.log.Warn("marking a notice sent failed", "err", err)
			}
			continue
		}
		wait := min(firstRetry<<min(it.Attempts, 10), maxRetry)
		next := n.now().Add(wait)
		if it.Attempts+1 >= maxAttempts {
			next = time.Unix(1<<40, 0) // given up; kept for the record until pruned
		}
		// The error is the channel's own; it names neither the URL nor a password.
		n.log.Warn("a notice was not delivered; trying again", "user", it.Owner, "channel", it.Channel, "attempt", it.Attempts+1,
			"in", wait, "err", err)
		if err := n.st.Outbox.Failed(ctx, n.db, it.ID, err.Error(), next); err != nil {
			n.log.Warn("recording a failed notice failed", "err", err)
		}
	}
	_ = n.st.Outbox.Prune(ctx, n.db, n.now().Add(-7*24*time.Hour))
}

func (n *Notifier) deliver(ctx context.Context, it store.OutboxItem) error {
	c := n.cfg.Load()
	switch it.Channel {
	case "webhook":
		if c.Webhook == "" {
			return errors.New("no webhook configured now")
		}
		return n.post(ctx, c.Webhook, it)
	case "email":
		if c.SMTP.Host == "" {
			return errors.New("no mail server configured now")
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return n.send(sctx, c.SMTP, it.Target, subject(it.Text), it.Text)
	}
	return fmt.Errorf("unknown channel %q", it.Channel)
}

// post sends one notice to the webhook.
func (n *Notifier) post(ctx context.Context, url string, it store.OutboxItem) error {
	body, _ := json.Marshal(map[string]string{"text": it.Text, "user": it.Owner, "kind": it.Kind})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL does not parse")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.http.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // *url.Error names the URL, which may hold a secret
		}
		return fmt.Errorf("webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// subject is a notice's first sentence, for a mail's subject.
func subject(text string) string {
	s := strings.TrimPrefix(text, "lxcgate: ")
	if i := strings.IndexAny(s, ":;("); i > 0 {
		s = s[:i]
	}
	return "lxcgate: " + strings.TrimSpace(s)
}
