package lxd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
//
// The streams go through websockets of its own rather than the LXD
// client's: those write 4 KiB frames, a system call each on both sides,
// which made an upload cost LXD more CPU than the transfer itself.
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
	op, streams, err := c.start(srv, name, req, p)
	if err != nil {
		return -1, err
	}
	defer streams.close()
	stop := make(chan struct{})
	defer close(stop)
	go control(ctx, streams.control, p.Control, stop)
	final, err := waitOperation(ctx, srv, op.Get().ID)
	if err != nil {
		c.log.Warn("exec did not end", "project", project, "name", name, "argv0", p.Argv[0], "err", err)
		return -1, fmt.Errorf("exec in %s: %w", name, err)
	}
	// The end is known; what the process wrote last (a shell's "not
	// found" line before its 127 included) may still be on its way
	// through the websockets.
	select {
	case <-streams.out:
	case <-time.After(5 * time.Second):
	}
	if final.Err != "" {
		err = errors.New(final.Err)
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
	code := -1
	if v, ok := final.Metadata["return"].(float64); ok {
		code = int(v)
	}
	return code, nil
}

// waitOperation waits for an operation's end through LXD's long poll
// (GET /operations/ID/wait), not the client's event stream: a burst of
// execs loses events, and with them the end of sessions whose output had
// long arrived. Once ctx ends (the process hung up, then killed), an LXD
// that still reports nothing gets hangupGrace and 10 s more.
func waitOperation(ctx context.Context, srv lxdclient.InstanceServer, id string) (*api.Operation, error) {
	var giveUp <-chan time.Time
	for failures := 0; ; {
		op, _, err := srv.GetOperationWait(id, 2)
		switch {
		case err == nil && op.StatusCode.IsFinal():
			return op, nil
		case err != nil && !strings.Contains(strings.ToLower(err.Error()), "timed out"):
			if failures++; failures >= 5 {
				return nil, err
			}
			time.Sleep(200 * time.Millisecond)
		}
		if giveUp == nil && ctx.Err() != nil {
			giveUp = time.After(hangupGrace + 10*time.Second)
		}
		select {
		case <-giveUp:
			return nil, errors.New("LXD reported no end after the hangup")
		default:
		}
	}
}

// maxStarts is how many execs the gateway starts at once: LXD 5.0.2 on a
// small host fails a burst of a hundred (database transaction and socket
// timeouts, "lxc exec" alone included), while starts in a queue all pass.
const maxStarts = 12

var starts = make(chan struct{}, maxStarts)

// start creates the exec operation and attaches its streams, at most
// maxStarts at a time.
func (c *Client) start(srv lxdclient.InstanceServer, name string, req api.InstanceExecPost, p Process) (lxdclient.Operation, *streams, error) {
	starts <- struct{}{}
	defer func() { <-starts }()
	op, _, err := srv.RawOperation("POST", "/instances/"+url.PathEscape(name)+"/exec", req, "")
	if err != nil {
		return nil, nil, c.check("exec in "+name, err)
	}
	s, err := c.attach(srv, op, p)
	if err != nil {
		_ = op.Cancel()
		return nil, nil, fmt.Errorf("exec in %s: %w", name, err)
	}
	return op, s, nil
}

// streams are a spawned process's websockets.
type streams struct {
	control *websocket.Conn
	conns   []*websocket.Conn
	out     chan struct{} // closed when every output stream has ended
}

func (s *streams) close() {
	for _, c := range append(s.conns, s.control) {
		if c != nil {
			c.Close()
		}
	}
}

// attach connects the operation's websockets and starts copying: stdin
// to "0", "1" to stdout, "2" to stderr (a terminal has "0" alone, both
// ways).
func (c *Client) attach(srv lxdclient.InstanceServer, op lxdclient.Operation, p Process) (*streams, error) {
	fds := map[string]string{}
	if m, ok := op.Get().Metadata["fds"].(map[string]any); ok {
		for k, v := range m {
			if s, ok := v.(string); ok {
				fds[k] = s
			}
		}
	}
	s := &streams{out: make(chan struct{})}
	dial := func(fd string) (*websocket.Conn, error) {
		conn, err := dialOperation(srv, op.Get().ID, fds[fd])
		if err == nil {
			s.conns = append(s.conns, conn)
		}
		return conn, err
	}
	var err error
	if s.control, err = dialOperation(srv, op.Get().ID, fds[api.SecretNameControl]); err != nil {
		return nil, err
	}
	go drain(s.control)
	var outs sync.WaitGroup
	if p.TTY != nil {
		conn, err := dial("0")
		if err != nil {
			s.close()
			return nil, err
		}
		// LXD ends the operation once the stream is closed: the output's end
		// closes it, as the input's end (a terminal's ends with the session)
		// may never come.
		outs.Add(1)
		go pump(p.Stdin, conn)
		go func() { sink(conn, p.Stdout); conn.Close(); outs.Done() }()
	} else {
		in, err1 := dial("0")
		out, err2 := dial("1")
		errw, err3 := dial("2")
		if err := firstErr(err1, err2, err3); err != nil {
			s.close()
			return nil, err
		}
		// Each stream is closed at its end, as LXD waits for that; stdin
		// too once the output has ended (the process is gone), or a client
		// that never closes its input would hold the exit status back.
		go func() { pump(p.Stdin, in); in.Close() }()
		go drain(in)
		outs.Add(2)
		go func() { sink(out, p.Stdout); out.Close(); outs.Done() }()
		go func() { sink(errw, orDiscard(p.Stderr)); errw.Close(); outs.Done() }()
		go func() { <-s.out; in.Close() }()
	}
	go func() { outs.Wait(); close(s.out) }()
	return s, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// streamBuffers are the buffers the output streams copy a message
// through, taken only while one arrives: an idle session holds none.
var streamBuffers = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// pumpBuffer is an input stream's buffer, held while it waits for the
// client: one SSH packet, so a bulk upload sends one message per packet
// or more, and an idle session holds little.
const pumpBuffer = 32 << 10

// wsWriteBuffers back the websockets' frames while a message is written.
var wsWriteBuffers = &sync.Pool{}

// dialOperation connects to one of an operation's websockets with frames
// as large as the messages (the LXD client's dialer would cut them at 4
// KiB), through the client's own transport: the unix socket, or TLS with
// its certificates.
func dialOperation(srv lxdclient.InstanceServer, id, secret string) (*websocket.Conn, error) {
	hc, err := srv.GetHTTPClient()
	if err != nil {
		return nil, err
	}
	var tr *http.Transport
	switch t := hc.Transport.(type) {
	case *http.Transport:
		tr = t
	case lxdclient.HTTPTransporter:
		tr = t.Transport()
	default:
		return nil, fmt.Errorf("unexpected LXD transport %T", hc.Transport)
	}
	info, err := srv.GetConnectionInfo()
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(info.URL)
	if err != nil {
		return nil, err
	}
	scheme := "ws"
	if base.Scheme == "https" {
		scheme = "wss"
	}
	d := websocket.Dialer{NetDialContext: tr.DialContext, TLSClientConfig: tr.TLSClientConfig, Proxy: tr.Proxy,
		HandshakeTimeout: 10 * time.Second, WriteBufferSize: 128 << 10, WriteBufferPool: wsWriteBuffers}
	u := fmt.Sprintf("%s://%s/1.0/operations/%s/websocket?secret=%s", scheme, base.Host, url.PathEscape(id), url.QueryEscape(secret))
	conn, resp, err := d.Dial(u, http.Header{"User-Agent": {"lxcgate"}})
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
		}
		return nil, fmt.Errorf("attach to the process: %w", err)
	}
	return conn, nil
}

// pump copies r to the websocket, a message per read, and ends the stream
// with LXD's barrier (an empty text message) at r's end.
func pump(r io.Reader, conn *websocket.Conn) {
	if r == nil {
		_ = conn.WriteMessage(websocket.TextMessage, nil)
		return
	}
	buf := make([]byte, pumpBuffer)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := conn.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = conn.WriteMessage(websocket.TextMessage, nil)
			return
		}
	}
}

// sink copies the websocket's binary messages to w until LXD's barrier,
// a close or an error.
func sink(conn *websocket.Conn, w io.Writer) {
	for {
		mt, r, err := conn.NextReader()
		if err != nil || mt != websocket.BinaryMessage {
			return
		}
		if !copyMessage(w, r) {
			return
		}
	}
}

// copyMessage copies one message to w; false when w failed.
func copyMessage(w io.Writer, r io.Reader) bool {
	bp := streamBuffers.Get().(*[]byte)
	defer streamBuffers.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return false
			}
		}
		if err != nil {
			return true
		}
	}
}

// drain reads what LXD sends on a stream nobody reads (pings, the close),
// so that the connection sees them.
func drain(conn *websocket.Conn) {
	for {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
	}
}

// control is the one writer of an exec's control websocket: it passes
// window changes and signals on, and hangs the process up when ctx ends.
func control(ctx context.Context, conn *websocket.Conn, in <-chan Control, stop <-chan struct{}) {
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
