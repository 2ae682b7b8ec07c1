// Package gatewaytest runs a whole gateway in the test's process: the
// serve graph gateway.New builds, on LXD's fake, in-memory chains and a
// temporary data directory, listening on loopback ports.
package gatewaytest

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/gateway"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/portmap"
	"github.com/lxcgate/lxcgate/internal/sweep"
	"github.com/lxcgate/lxcgate/internal/testlog"
)

// Gateway is a running gateway and the fakes under it.
type Gateway struct {
	*gateway.Gateway
	Config config.Config // as started
	Fake   *lxdtest.Fake
	Chains *Chains
	Log    *testlog.Buffer // everything it logged, as text
	done   chan error
}

// Config is a configuration that validates and serves on loopback ports:
// SSH, and the web listener (set Web.Listen to "" for none).
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	cfg.Hostname = "gw.test"
	cfg.SSH.Listen = "127.0.0.1:0"
	cfg.Web.Listen = "127.0.0.1:0"
	cfg.Containers.DefaultImage = "lxcgate-busybox"
	return cfg
}

// Start builds a gateway from Config, changed by mod when not nil, and
// runs it until the test ends.
func Start(t testing.TB, mod func(*config.Config)) *Gateway {
	t.Helper()
	cfg := Config(t)
	if mod != nil {
		mod(&cfg)
	}
	g := &Gateway{Config: cfg, Fake: lxdtest.New(), Chains: &Chains{}, Log: &testlog.Buffer{}, done: make(chan error, 1)}
	var stderr bytes.Buffer // the first admin's notice
	gw, err := gateway.New(cfg, gateway.Deps{
		LXD: g.Fake, Ports: g.Chains, Conns: noConns{}, GPUUse: noGPUs{},
		Stderr: &stderr, Log: slog.New(slog.NewTextHandler(g.Log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	g.Gateway = gw
	go func() { g.done <- gw.Run(context.Background()) }()
	select {
	case <-gw.Ready():
	case err := <-g.done:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start within 10s")
	}
	t.Cleanup(func() { g.Stop(t) })
	return g
}

// Stop drains the gateway (at once if it was stopped before) and returns
// what Run returned.
func (g *Gateway) Stop(t testing.TB) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := g.Shutdown(ctx)
	select {
	case runErr, ok := <-g.done:
		if ok {
			err = runErr
			close(g.done)
		}
	case <-ctx.Done():
		t.Fatal("gateway did not stop within 10s")
	}
	return err
}

// Chains keeps port-mapping rules in memory, as iptables' chains would.
type Chains struct {
	mu    sync.Mutex
	rules []portmap.Rule
}

var _ portmap.Backend = (*Chains)(nil)

// Ensure makes nothing: the chains always exist.
func (c *Chains) Ensure() error { return nil }

// Rules returns the rules now in the chains.
func (c *Chains) Rules() ([]portmap.Rule, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]portmap.Rule(nil), c.rules...), nil
}

// Apply deletes del and adds add.
func (c *Chains) Apply(del, add []portmap.Rule) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range del {
		for i, r := range c.rules {
			if r == d {
				c.rules = append(c.rules[:i], c.rules[i+1:]...)
				break
			}
		}
	}
	c.rules = append(c.rules, add...)
	return nil
}

// Flush empties the chains.
func (c *Chains) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rules = nil
	return nil
}

// noConns and noGPUs stand in for the host's connection tracking and
// nvidia-smi: nothing is in use.
type noConns struct{}

func (noConns) Connections(context.Context) (map[string][]sweep.Flow, error) { return nil, nil }

type noGPUs struct{}

func (noGPUs) Utilization(context.Context) (map[string]float64, error) { return nil, nil }
