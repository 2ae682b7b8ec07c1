package gateway

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A quick call that took long is logged once; a long create is not.
func TestObserveLXDLogsSlowCalls(t *testing.T) {
	var buf bytes.Buffer
	counted := 0
	obs := observeLXD(func(string, time.Duration) { counted++ }, slog.New(slog.NewTextHandler(&buf, nil)))
	obs("volume-create", 31*time.Second)
	obs("create", 40*time.Second)
	obs("get", time.Millisecond)
	if counted != 3 {
		t.Fatalf("counted %d calls, want 3", counted)
	}
	if got := strings.Count(buf.String(), "LXD answered slowly"); got != 1 || !strings.Contains(buf.String(), "op=volume-create") {
		t.Fatalf("log: %s", buf.String())
	}
}
