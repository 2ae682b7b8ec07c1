package lxd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A daemon that is not there: Ping says so, and every call is still
// observed under its operation's name.
func TestPingAndObserveWithoutLXD(t *testing.T) {
	c := New(Conn{Socket: filepath.Join(t.TempDir(), "no.socket")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var ops []string
	c.Observe = func(op string, _ time.Duration) { ops = append(ops, op) }
	if err := c.Ping(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping: %v, want ErrUnavailable", err)
	}
	c.List(context.Background(), "p")
	c.Start(context.Background(), "p", "secretbox")
	if len(ops) != 2 || ops[0] != "list" || ops[1] != "start" {
		t.Fatalf("observed %q, want [list start]", ops)
	}
}

// A daemon that accepts but never answers: Ping gives up with ctx.
func TestPingTimesOut(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hang.socket")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	c := New(Conn{Socket: sock}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Ping took %v", d)
	}
	// The hung call still holds its place: the next ping fails at once.
	if err := c.Ping(context.Background()); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "still waiting") {
		t.Fatalf("Ping while one hangs: %v", err)
	}
}
