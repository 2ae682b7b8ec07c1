package gateway

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// startPprof serves Go's profiler on LXCGATE_PPROF (a loopback address, for
// benchmarks), and does nothing when the variable is unset, the default.
func startPprof(log *slog.Logger) error {
	addr := os.Getenv("LXCGATE_PPROF")
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("LXCGATE_PPROF=%q: want a loopback address and port (127.0.0.1:6060)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("LXCGATE_PPROF: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	log.Warn("profiler listening (LXCGATE_PPROF)", "addr", ln.Addr().String())
	go http.Serve(ln, mux)
	return nil
}
