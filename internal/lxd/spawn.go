package lxd

import (
	"context"
	"io"
	"strconv"
	"syscall"
	"time"

	lxdclient "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/gorilla/websocket"
)

// Process is a program run in a container for a session that streams: a
// shell, a command, an SFTP server, a relay. Unlike Exec, its output is
// not kept: it flows to Stdout and Stderr as it comes, and a writer that
// blocks (a client that stops reading) stops the process at its pipe.
type Process struct {
	Argv     []string
	Env      map[string]string
	UID, GID uint32
	Cwd      string
	// TTY, when set, runs the process on a terminal of that size; Stderr
	// is then unused (the terminal merges both outputs).
	TTY    *Window
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Control carries window changes and signals while it runs.
	Control <-chan Control
}

// Window is a terminal's size in characters.
type Window struct{ Width, Height int }

// Control is one message to a running process: a signal when Signal is
// not zero, else a window change.
type Control struct {
	Signal syscall.Signal
	Window Window
}

// hangupGrace is how long a process has between SIGHUP (its session went)
// and SIGKILL.
const hangupGrace = 3 * time.Second

// Spawn runs p in a container until it exits, and returns its exit status.
// When ctx ends first (the client went), the process gets SIGHUP, and
// SIGKILL hangupGrace later.
func (c *Client) Spawn(ctx context.Context, project, name string, p Process) (int, error) {
	srv, err := c.project(project)
	if err != nil {
		return -1, err
	}
	req := api.InstanceExecPost{Command: p.Argv, Environment: p.Env, WaitForWS: true,
		User: p.UID, Group: p.GID, Cwd: p.Cwd, Interactive: p.TTY != nil}
	if p.TTY != nil {
		req.Width, req.Height = p.TTY.Width, p.TTY.Height
	}
	ctl := make(chan *websocket.Conn, 1)
	done := make(chan bool)
	args := &lxdclient.InstanceExecArgs{Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr, DataDone: done,
		Control: func(conn *websocket.Conn) { ctl <- conn }}
	if p.TTY != nil {
		args.Stderr = nil
	}
	op, err := srv.ExecInstance(name, req, args)
	if err != nil {
		return -1, c.check("exec in "+name, err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go control(ctx, ctl, p.Control, stop)
	if err := op.Wait(); err != nil {
		// LXD fails the operation of a process that exits 126 or 127
		// ("Permission denied", "Command not found"): for a session that
		// is its exit status (a shell's "command not found"), not an error.
		switch err.Error() {
		case "Command not found":
			return 127, nil
		case "Permission denied":
			return 126, nil
		}
		return -1, c.check("exec in "+name, err)
	}
	// The exit status is known; what the process wrote last may still be
	// on its way through the websockets.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	code := -1
	if v, ok := op.Get().Metadata["return"].(float64); ok {
		code = int(v)
	}
	return code, nil
}

// control is the one writer of an exec's control websocket: it passes
// window changes and signals on, and hangs the process up when ctx ends.
func control(ctx context.Context, ctl <-chan *websocket.Conn, in <-chan Control, stop <-chan struct{}) {
	var conn *websocket.Conn
	select {
	case conn = <-ctl:
	case <-stop:
		return
	}
	send := func(m api.InstanceExecControl) bool {
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		return conn.WriteJSON(m) == nil
	}
	signal := func(s syscall.Signal) bool {
		return send(api.InstanceExecControl{Command: "signal", Signal: int(s)})
	}
	for {
		select {
		case <-stop:
			return
		case m, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			if m.Signal != 0 {
				signal(m.Signal)
				continue
			}
			send(api.InstanceExecControl{Command: "window-resize", Args: map[string]string{
				"width": strconv.Itoa(m.Window.Width), "height": strconv.Itoa(m.Window.Height)}})
		case <-ctx.Done():
			signal(syscall.SIGHUP)
			select {
			case <-stop:
			case <-time.After(hangupGrace):
				signal(syscall.SIGKILL)
			}
			return
		}
	}
}
