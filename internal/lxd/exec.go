package lxd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/gorilla/websocket"
)

// What runs in a container is the tenant's program (chpasswd may be
// replaced by `cat /dev/zero >&2`): its output is capped and its run timed
// (Client.ExecTimeout, 30 s unless set).
const (
	defaultExecTimeout = 30 * time.Second
	maxExecStderr      = 4 << 10
)

// Exec runs argv in a container (no shell), feeding stdin, and returns the
// exit status and the first KiBs of what it wrote to stderr. Past the
// timeout or when ctx ends, the process is killed.
func (c *Client) Exec(ctx context.Context, project, name string, argv []string, stdin []byte) (int, string, error) {
	defer c.timed("exec")()
	timeout := c.ExecTimeout
	if timeout <= 0 {
		timeout = defaultExecTimeout
	}
	code, _, stderr, err := c.run(ctx, project, name, argv, stdin, 0, timeout)
	return code, stderr, err
}

// run is Exec keeping up to maxOut bytes of stdout; the output says
// whether more came. Unlike LXD's file API, a process blocked on a FIFO
// can be killed, which is why reads of tenants' files go through here.
func (c *Client) run(ctx context.Context, project, name string, argv []string, stdin []byte, maxOut int, timeout time.Duration) (int, *capped, string, error) {
	srv, err := c.project(project)
	if err != nil {
		return -1, nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stdout, stderr := &capped{max: maxOut}, &capped{max: maxExecStderr}
	control := make(chan *websocket.Conn, 1)
	done := make(chan bool)
	op, err := srv.ExecInstance(name, api.InstanceExecPost{Command: argv, WaitForWS: true},
		&lxdclient.InstanceExecArgs{Stdin: bytes.NewReader(stdin), Stdout: stdout, Stderr: stderr, DataDone: done,
			Control: func(conn *websocket.Conn) { control <- conn }})
	if err != nil {
		return -1, nil, "", c.check("exec in "+name, err)
	}
	if err := op.WaitContext(ctx); err != nil {
		if ctx.Err() == nil {
			return -1, nil, "", c.check("exec in "+name, err)
		}
		// Kill it rather than leave it running with our websockets.
		select {
		case conn := <-control:
			_ = conn.WriteJSON(api.InstanceExecControl{Command: "signal", Signal: int(syscall.SIGKILL)})
		default:
		}
		bg, stop := context.WithTimeout(context.Background(), 5*time.Second)
		_ = op.WaitContext(bg)
		stop()
		c.log.Warn("exec killed", "project", project, "name", name, "argv0", argv[0], "err", ctx.Err())
		return -1, nil, "", timeoutError{argv[0], name, timeout}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second): // output still flowing from a child it left behind
	}
	code := -1
	if v, ok := op.Get().Metadata["return"].(float64); ok {
		code = int(v)
	}
	return code, stdout, stderr.String(), nil
}

// ErrTimeout matches a command killed at its deadline.
var ErrTimeout = errors.New("did not finish in time")

type timeoutError struct {
	what, name string
	after      time.Duration
}

func (e timeoutError) Error() string {
	return fmt.Sprintf("%s in %s did not finish within %s; it was stopped", e.what, e.name, e.after)
}

func (e timeoutError) Is(target error) bool { return target == ErrTimeout }

// capped keeps the first max bytes written and discards the rest, always
// reporting success so that the stream keeps draining.
type capped struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
	cut bool
}

func (w *capped) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if room := w.max - w.buf.Len(); n > room {
		w.cut = true
		p = p[:max(room, 0)]
	}
	w.buf.Write(p)
	return n, nil
}

// Bytes returns what was kept; cut reports that more was written.
func (w *capped) Bytes() (b []byte, cut bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes()), w.cut
}

func (w *capped) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := string(bytes.TrimSpace(w.buf.Bytes()))
	if w.cut {
		s += " [cut]"
	}
	return s
}
