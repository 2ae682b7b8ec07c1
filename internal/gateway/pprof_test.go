package gateway

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// The profiler is off unless LXCGATE_PPROF names a loopback address.
func TestPprofOptIn(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("LXCGATE_PPROF", "")
	if err := startPprof(log); err != nil {
		t.Fatalf("unset: %v", err)
	}
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "10.0.0.1:6060", "localhost"} {
		t.Setenv("LXCGATE_PPROF", bad)
		if err := startPprof(log); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("LXCGATE_PPROF=%s: %v", bad, err)
		}
	}
	t.Setenv("LXCGATE_PPROF", "127.0.0.1:0")
	if err := startPprof(log); err != nil {
		t.Fatalf("loopback: %v", err)
	}
}
