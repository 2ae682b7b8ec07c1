package lxd

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// instanceActions are the lifecycle events that change whether an instance
// runs or where it is.
var instanceActions = map[string]bool{
	"instance-started": true, "instance-stopped": true, "instance-shutdown": true, "instance-restarted": true,
	"instance-deleted": true, "instance-created": true, "instance-restored": true, "instance-renamed": true,
	"instance-paused": true, "instance-resumed": true,
}

// StreamResumed is the action Watch gives (with no project or name) when
// the event stream is back after it was lost: events were missed
// meanwhile (LXD restarted, or was killed in the middle of an operation),
// so the caller looks at everything again.
const StreamResumed = "stream-resumed"

// Watch calls fn for every instance lifecycle event (started, stopped,
// deleted, ...) in any project until ctx ends, reconnecting after the
// daemon goes away (then fn hears StreamResumed). fn must not block.
func (c *Client) Watch(ctx context.Context, fn func(project, name, action string)) {
	lost := false
	for delay := time.Second; ctx.Err() == nil; delay = min(delay*2, 30*time.Second) {
		srv, err := c.server()
		if err == nil {
			var l *lxdclient.EventListener
			if l, err = srv.GetEventsAllProjects(); err == nil {
				delay = time.Second
				if lost {
					lost = false
					fn("", "", StreamResumed)
				}
				_, _ = l.AddHandler([]string{"lifecycle"}, func(e api.Event) {
					var lc api.EventLifecycle
					if json.Unmarshal(e.Metadata, &lc) != nil || !instanceActions[lc.Action] {
						return // snapshots, backups, logs: no change of state
					}
					name, project := lc.Name, lc.Project
					if name == "" { // before the event_lifecycle_name_and_project extension
						src := strings.TrimPrefix(lc.Source, "/1.0/instances/")
						name, _, _ = strings.Cut(src, "?")
						project = e.Project
					}
					name, _, _ = strings.Cut(name, "/")
					fn(project, name, lc.Action)
				})
				go func() { <-ctx.Done(); l.Disconnect() }()
				err = l.Wait()
			}
		}
		if ctx.Err() != nil {
			return
		}
		lost = true
		c.log.Warn("event stream lost; reconnecting", "err", err, "in", delay)
		c.mu.Lock()
		c.srv = nil
		c.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}
