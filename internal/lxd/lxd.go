// Package lxd adapts the LXD client to the few things lxcgate does with it,
// in lxcgate's own types: no shared/api type leaves this package. It waits
// on every operation with the caller's context, turns LXD errors into
// sentinels with one-line messages, and reconnects after a daemon restart.
package lxd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// Errors callers match with errors.Is.
var (
	ErrNotFound       = errors.New("no such container")
	ErrExists         = errors.New("container already exists")
	ErrRunning        = errors.New("container is running")
	ErrNotRunning     = errors.New("container is not running")
	ErrUnavailable    = errors.New("LXD is not reachable right now; try again in a minute")
	ErrLimit          = errors.New("LXD refused: a project limit was reached")
	ErrImageNotFound  = errors.New("no such image")
	ErrProjectMissing = errors.New("no such project")
	ErrNoFile         = errors.New("no such file or directory in the container")
	// ErrInUse: LXD refuses to delete a volume an instance uses.
	ErrInUse = errors.New("volume is in use")
	// ErrDNSName: LXD refuses two running instances of one name on a bridge
	// that publishes DNS records, even in different projects.
	ErrDNSName = errors.New("another user's running container has this name on the shared bridge; " +
		"the admin can allow it with 'lxc network set BRIDGE dns.mode=none'")
)

// Client talks to LXD over its unix socket or HTTPS.
type Client struct {
	conn Conn
	log  *slog.Logger

	mu  sync.Mutex
	srv lxdclient.InstanceServer
	at  int // which of conn's addresses srv is (mod their number)

	// ExecTimeout bounds a command run in a container; set before use.
	ExecTimeout time.Duration
	// Network, when set before use, is the managed bridge new containers'
	// primary NIC joins instead of the default profile's.
	Network string
	// Observe, when set before use, hears how long each call took, by
	// operation ("create", "start", "list"); never a container's name.
	Observe func(op string, d time.Duration)

	pinging atomic.Bool // a Ping's call is in flight
	admit   admission   // heavy operations in flight, per daemon

	cluster   clusterCache
	nets      subnets // bridges' subnets, and under its lock the NIC cache
	profile   profile // the default profile, under nets' lock
	profileAt time.Time
}

// New returns a client for conn. It connects lazily, so the gateway starts
// even while LXD is down.
func New(conn Conn, log *slog.Logger) *Client {
	return &Client{conn: conn, log: log.With("component", "lxd")}
}

func (c *Client) server() (lxdclient.InstanceServer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv != nil {
		return c.srv, nil
	}
	var srv lxdclient.InstanceServer
	var err error
	if c.conn.remote() {
		urls := c.conn.addresses()
		srv, err = connectHTTPS(urls[c.at%len(urls)], c.conn)
	} else {
		srv, err = lxdclient.ConnectLXDUnix(Socket(c.conn.Socket), &lxdclient.ConnectionArgs{SkipGetServer: true})
	}
	if err != nil {
		c.log.Warn("connect failed", "err", err)
		return nil, ErrUnavailable
	}
	c.srv = srv
	return srv, nil
}

// timed reports an operation's duration when it returns:
// defer c.timed("start")().
func (c *Client) timed(op string) func() {
	if c.Observe == nil {
		return func() {}
	}
	start := time.Now()
	return func() { c.Observe(op, time.Since(start)) }
}

// Ping asks LXD for its server record, the cheapest call there is: the
// readiness probe. LXD's client takes no context, so the wait is bounded
// here and a hung call is left to finish on its own; while one hangs,
// later pings fail at once rather than pile up.
func (c *Client) Ping(ctx context.Context) error {
	srv, err := c.server()
	if err != nil {
		return err
	}
	if !c.pinging.CompareAndSwap(false, true) {
		return fmt.Errorf("ping: the last one is still waiting: %w", ErrUnavailable)
	}
	done := make(chan error, 1)
	go func() {
		defer c.pinging.Store(false)
		_, _, err := srv.GetServer()
		done <- err
	}()
	select {
	case err := <-done:
		return c.check("ping", err)
	case <-ctx.Done():
		return fmt.Errorf("ping: %w", ErrUnavailable)
	}
}

func (c *Client) project(p string) (lxdclient.InstanceServer, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	return srv.UseProject(p), nil
}

// check turns an LXD error into a sentinel, keeping the raw error for the
// log, and drops the connection when the daemon went away so that the next
// call reconnects.
func (c *Client) check(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	msg := err.Error()
	// The status code first, where the answer has one; an operation's
	// failure (create, start, ...) carries only its text.
	status := 0
	var se api.StatusError
	if errors.As(err, &se) {
		status = se.Status()
	}
	switch {
	case status == http.StatusConflict:
		return fmt.Errorf("%s: %w", what, ErrExists)
	case status == http.StatusForbidden:
		c.log.Error(what+": LXD refused the gateway's own request", "err", err)
		return fmt.Errorf("%s: LXD refused; the admin must check the gateway's LXD access", what)
	case status == http.StatusNotFound || (status == 0 && strings.Contains(msg, "not found")):
		// LXD names the missing kind last: `... in project "p": InstanceSnapshot
		// not found`, "Image alias not found", "Project not found".
		last := strings.ToLower(msg[strings.LastIndex(msg, ": ")+1:])
		switch {
		case strings.Contains(last, "image"):
			return fmt.Errorf("%s: %w", what, ErrImageNotFound)
		case strings.Contains(last, "project"):
			return fmt.Errorf("%s: %w", what, ErrProjectMissing)
		}
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	case strings.Contains(msg, "DNS name"):
		c.log.Warn(what, "err", err)
		return fmt.Errorf("%s: %w", what, ErrDNSName)
	case strings.Contains(msg, "already exists"):
		return fmt.Errorf("%s: %w", what, ErrExists)
	case strings.Contains(msg, "already running"):
		return fmt.Errorf("%s: %w", what, ErrRunning)
	case strings.Contains(msg, "already stopped") || strings.Contains(msg, "not running"):
		return fmt.Errorf("%s: %w", what, ErrNotRunning)
	case strings.Contains(msg, "must be stopped") || strings.Contains(msg, "is running"):
		return fmt.Errorf("%s: %w", what, ErrRunning)
	case strings.Contains(msg, "still in use") || strings.Contains(msg, "is in use"):
		return fmt.Errorf("%s: %w", what, ErrInUse)
	case strings.Contains(msg, "Reached maximum") || strings.Contains(msg, "limit"):
		c.log.Warn(what, "err", err)
		return fmt.Errorf("%s: %w", what, ErrLimit)
	case isConnErr(err):
		c.mu.Lock()
		c.srv = nil
		next := ""
		if urls := c.conn.addresses(); c.conn.remote() && len(urls) > 1 {
			// The member behind this address is gone: the next one serves
			// the cluster as well.
			c.at++
			next = urls[c.at%len(urls)]
		}
		c.mu.Unlock()
		c.log.Warn("connection lost; will reconnect", "what", what, "err", err, "next", next)
		return fmt.Errorf("%s: %w", what, ErrUnavailable)
	}
	c.log.Error(what, "err", err)
	return fmt.Errorf("%s: LXD failed; the error was logged for the admin", what)
}

func isConnErr(err error) bool {
	msg := err.Error()
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "no such file or directory") || strings.Contains(msg, "EOF") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "no route to host") || strings.Contains(msg, "i/o timeout")
}

// wait waits for op under ctx, reporting progress lines. When ctx ends
// first the operation goes on inside LXD; the caller decides what then.
func wait(ctx context.Context, op lxdclient.Operation, progress func(string)) error {
	if progress != nil {
		last := ""
		_, _ = op.AddHandler(func(o api.Operation) {
			for k, v := range o.Metadata {
				s, ok := v.(string)
				if ok && strings.HasSuffix(k, "_progress") && s != last {
					last = s
					progress(s)
				}
			}
		})
	}
	return op.WaitContext(ctx)
}
