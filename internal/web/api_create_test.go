package web_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/web"
)

// waitSpy counts the waits for an address.
type waitSpy struct {
	containers.API
	waits atomic.Int32
}

func (w *waitSpy) WaitAddress(ctx context.Context, user, name string) (containers.Container, error) {
	w.waits.Add(1)
	return w.API.WaitAddress(ctx, user, name)
}

// Scenario: the API's create takes a lease and, with start, waits for the
// address as the shell's launch does; without wait it answers at once.
func TestAPICreateLeaseAndWait(t *testing.T) {
	spy := &waitSpy{}
	l := newLab(t, func(o *web.Options) { spy.API = o.Service; o.Service = spy })
	tok := l.token("alice")
	body := l.want("POST", "/api/v1/containers", tok, `{"name":"dev","start":true,"wait":true,"lease":"7d"}`, 201, `"ipv4": "10.166.0.`)
	if spy.waits.Load() != 1 || !strings.Contains(body, `"expires"`) || !strings.Contains(body, `"ports"`) {
		t.Fatalf("launch with wait: %d waits, %s", spy.waits.Load(), body)
	}
	l.want("POST", "/api/v1/containers", tok, `{"name":"lab","start":true}`, 201, `"name": "lab"`)
	if spy.waits.Load() != 1 {
		t.Errorf("launch without wait waited")
	}
	l.want("POST", "/api/v1/containers", tok, `{"name":"x","lease":"soon"}`, 400, `lease \"soon\": say 12h or 7d`)
	l.want("POST", "/api/v1/containers", tok, `{"name":"bad_name"}`, 400, `'_' is not allowed`)
}
