package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// relayScript connects, inside the container and as the session's user,
// to $0 port $1, writes "+" once connected, then relays stdin and stdout.
// The gateway cannot enter the container's network itself (it runs without
// CAP_SYS_ADMIN, and the container may be on another cluster member), so
// the image's own bash (its /dev/tcp) or BusyBox's nc does it. Both copies
// run in the background so that the hangup the gateway sends when the
// client closes the channel ends them too.
const relayScript = `if command -v bash >/dev/null 2>&1; then
	exec bash -c '
exec 3<>"/dev/tcp/$0/$1" || exit 111
exec 4<&0
printf +
cat <&4 >&3 & w=$!
cat <&3 & r=$!
trap "kill $r $w 2>/dev/null; exit 129" HUP TERM
wait $r
kill $w 2>/dev/null' "$0" "$1"
fi
if command -v nc >/dev/null 2>&1; then
	printf +
	exec nc "$0" "$1"
fi
echo "lxcgate: forwarding needs bash or nc in the container" >&2
exit 127`

// forwardTimeout bounds a relay's connect.
const forwardTimeout = 10 * time.Second

// ErrForwardHost refuses a forward to anything but the container itself.
var ErrForwardHost = errors.New("forwards reach only the container itself: localhost, 127.0.0.1, ::1 or its own address")

// Relay is one forwarded TCP connection, held by a process in the
// container. Reads and writes block as the far ends do: nothing is
// buffered beyond a pipe.
type Relay struct {
	out    *io.PipeReader
	in     *io.PipeWriter
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *Relay) Read(p []byte) (int, error)  { return r.out.Read(p) }
func (r *Relay) Write(p []byte) (int, error) { return r.in.Write(p) }

// CloseWrite passes the client's end of data on (as far as the relay can:
// bash cannot half-close its socket, so the service sees it at Close).
func (r *Relay) CloseWrite() error { return r.in.Close() }

// Close ends the relay and its process.
func (r *Relay) Close() error {
	r.cancel()
	r.in.Close()
	r.out.Close()
	<-r.done
	return nil
}

// forwardHost maps a direct-tcpip destination to what the relay dials, or
// refuses it.
func (e *Entry) forwardHost(host string, port int) (string, error) {
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("port %d: %w", port, ErrForwardHost)
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1":
		return "127.0.0.1", nil
	case "::1", "[::1]":
		return "::1", nil
	}
	if ip := net.ParseIP(host); ip != nil {
		for _, a := range e.addrs {
			if ip.Equal(net.ParseIP(a)) {
				return a, nil
			}
		}
	}
	return "", ErrForwardHost
}

// Forward connects to host:port as seen from inside the container, which
// must be the container's own loopback or address.
func (e *Entry) Forward(ctx context.Context, host string, port int) (*Relay, error) {
	dest, err := e.forwardHost(host, port)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(e.ctx)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errs := &lineBuffer{}
	r := &Relay{out: outR, in: inW, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		p := lxd.Process{Argv: []string{"/bin/sh", "-c", relayScript, dest, strconv.Itoa(port)}, Env: e.env(Session{}),
			UID: uint32(e.acct.uid), GID: uint32(e.acct.gid), Cwd: "/", Stdin: inR, Stdout: outW, Stderr: errs}
		_, err := e.s.lxd.Spawn(rctx, e.project, e.Ref.Name, p)
		outW.CloseWithError(orEOF(err))
		inR.Close()
	}()
	ack := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := io.ReadFull(outR, b[:])
		if err == nil && b[0] != '+' {
			err = errors.New("unexpected answer")
		}
		ack <- err
	}()
	select {
	case err = <-ack:
	case <-time.After(forwardTimeout):
		err = fmt.Errorf("no answer within %s", forwardTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		r.Close()
		if msg := errs.String(); msg != "" {
			err = errors.New(msg)
		}
		return nil, fmt.Errorf("connect to %s port %d in %s: %w", dest, port, e.Ref.Name, err)
	}
	return r, nil
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// lineBuffer keeps the first line of a relay's stderr, for its refusal.
type lineBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 512 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	line, _, _ := strings.Cut(strings.TrimSpace(b.buf.String()), "\n")
	return line
}
