package apps

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/units"
)

// appSessionGap ends an app session: no request for this long.
const appSessionGap = 2 * time.Minute

type appKey struct{ user, name, label string }

// tally sums each app session's requests and bytes until it ends, for
// its one audit row: never a URL, a query string or a body.
type tally struct {
	audit Auditor
	mu    sync.Mutex
	open  map[appKey]*appSession
}

type appSession struct {
	remote      string
	first, last time.Time
	requests    int64
	in, out     int64
}

func newTally(a Auditor) *tally { return &tally{audit: a, open: map[appKey]*appSession{}} }

func (t *tally) add(k appKey, remote string, start time.Time, in, out int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.open[k]
	if s == nil {
		s = &appSession{remote: remote, first: start}
		t.open[k] = s
	}
	s.requests++
	s.in += in
	s.out += out
	s.last = time.Now()
}

// flush records and forgets the sessions whose last request is before
// idle; the zero time flushes them all.
func (t *tally) flush(idle time.Time) {
	t.mu.Lock()
	var done []audit.Event
	for k, s := range t.open {
		if !idle.IsZero() && s.last.After(idle) {
			continue
		}
		delete(t.open, k)
		done = append(done, audit.Event{Kind: audit.KindApp, User: k.user, Remote: s.remote, Method: "app",
			Detail: fmt.Sprintf("app %s of %s: %d requests, %s in, %s out, %s", k.label, k.name, s.requests,
				units.FormatSize(s.in), units.FormatSize(s.out), s.last.Sub(s.first).Round(time.Second)), OK: true})
	}
	t.mu.Unlock()
	if t.audit == nil {
		return
	}
	for _, e := range done {
		t.audit.Record(context.Background(), e)
	}
}
