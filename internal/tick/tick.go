// Package tick runs background work on a ticker until its context ends:
// the one loop behind the gateway's periodic checks, reconciles,
// summaries and watchdog.
package tick

import (
	"context"
	"time"
)

// Every calls f after each interval until ctx ends; it does not call f at
// once (callers that want a first pass at start call f themselves).
func Every(ctx context.Context, interval time.Duration, f func()) {
	EveryOr(ctx, interval, nil, 0, f, f)
}

// EveryOr is Every, and also calls woken settle after wake fires: the
// wakes that come while it settles are covered by that one call.
func EveryOr(ctx context.Context, interval time.Duration, wake <-chan struct{}, settle time.Duration, f, woken func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
			continue
		case <-wake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(settle):
			}
			select {
			case <-wake:
			default:
			}
		}
		woken()
	}
}
