package shell

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/term"
)

// errInterrupt is returned by a console read cut short by Ctrl-C.
var errInterrupt = errors.New("interrupted")

// console reads lines and passwords from the user.
type console interface {
	ReadLine(prompt string) (string, error)
	ReadPassword(prompt string) (string, error)
	// commandContext returns the context a command runs under; on a
	// terminal, Ctrl-C cancels it.
	commandContext(parent context.Context) (context.Context, context.CancelFunc)
}

// termConsole is a terminal: x/term gives line editing, history and Tab
// completion, and turns \n into \r\n for everything written through it, so
// errors written here come out right on a PTY.
type termConsole struct {
	t *term.Terminal

	mu         sync.Mutex
	interrupts int                // Ctrl-C bytes handed to the terminal, not yet seen by a read
	cancel     context.CancelFunc // of the running command, if any
	busy       bool
	prompting  bool // a command is reading from the user
	closing    bool
	done       chan struct{}
}

func newTermConsole(sio IO, prompt string) *termConsole {
	pr, pw := io.Pipe()
	c := &termConsole{done: make(chan struct{})}
	c.t = term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{pr, sio.Stdout}, prompt)
	c.t.History = &history{}
	if sio.Window.Width > 0 && sio.Window.Height > 0 {
		c.t.SetSize(sio.Window.Width, sio.Window.Height)
	}
	// The pump sees every byte before the terminal does. x/term answers
	// Ctrl-C (and Ctrl-D) with io.EOF and keeps the key in its buffer, so
	// that every later read ends the same way; the pump therefore never
	// hands it a Ctrl-C: it cancels the running command and sends "clear
	// the line, then Enter" instead, and the read that returns is marked
	// as interrupted. Ctrl-D at a command's own prompt counts as Ctrl-C;
	// anywhere else it passes through (typed ahead, it reaches the shell
	// prompt and logs out, as in any shell).
	go func() {
		// Keystrokes, mostly; a paste takes several reads. Every idle
		// session holds this buffer.
		buf := make([]byte, 512)
		for {
			n, err := sio.Stdin.Read(buf)
			if n > 0 {
				if werr := c.feed(pw, buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	if sio.OnResize != nil {
		sio.OnResize(func(w Window) {
			select {
			case <-c.done:
				return
			default:
			}
			// A client without a real terminal (ssh -tt < pipe) reports
			// 0x0; x/term cannot draw in that.
			if w.Width > 0 && w.Height > 0 {
				c.t.SetSize(w.Width, w.Height)
			}
		})
	}
	return c
}

// clearAndEnter is Ctrl-A (start of line), Ctrl-K (delete to end), Enter.
var clearAndEnter = []byte{1, 11, '\r'}

func (c *termConsole) feed(w io.Writer, p []byte) error {
	for len(p) > 0 {
		i := bytes.IndexFunc(p, func(r rune) bool { return r == 3 || r == 4 })
		if i < 0 {
			_, err := w.Write(p)
			return err
		}
		// An io.Pipe write of nothing still waits for a reader: skip it.
		if i > 0 {
			if _, err := w.Write(p[:i]); err != nil {
				return err
			}
		}
		key := p[i]
		p = p[i+1:]
		c.mu.Lock()
		interrupt := key == 3 || c.prompting
		if interrupt {
			c.interrupts++
			if c.cancel != nil {
				c.cancel()
			}
		}
		c.mu.Unlock()
		out := []byte{key}
		if interrupt {
			out = clearAndEnter
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

func (c *termConsole) stop() { close(c.done) }

func (c *termConsole) Write(p []byte) (int, error) { return c.t.Write(p) }

func (c *termConsole) setPrompt(p string) { c.t.SetPrompt(p) }

func (c *termConsole) setCompleter(f func(line string) (string, bool)) {
	c.t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' || pos != len(line) {
			return "", 0, false
		}
		if out, ok := f(line); ok {
			return out, len(out), true
		}
		return "", 0, false
	}
}

// interrupted reports a read ended by the pump's stand-in for Ctrl-C.
func (c *termConsole) interrupted(err error) error {
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.interrupts > 0 {
		c.interrupts--
		c.t.Write([]byte("^C\n"))
		return errInterrupt
	}
	return nil
}

// readShellLine reads a command line at the shell prompt.
func (c *termConsole) readShellLine() (string, error) {
	line, err := c.t.ReadLine()
	if errors.Is(err, term.ErrPasteIndicator) {
		err = nil
	}
	return line, c.interrupted(err)
}

// ReadLine reads a line for a command.
func (c *termConsole) ReadLine(prompt string) (string, error) {
	defer c.setPrompting()()
	if prompt != "" {
		c.t.SetPrompt(prompt)
	}
	return c.readShellLine()
}

// ReadPassword reads a secret for a command, without echo.
func (c *termConsole) ReadPassword(prompt string) (string, error) {
	defer c.setPrompting()()
	line, err := c.t.ReadPassword(prompt)
	return line, c.interrupted(err)
}

func (c *termConsole) setPrompting() func() {
	c.mu.Lock()
	c.prompting = true
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.prompting = false
		c.mu.Unlock()
	}
}

func (c *termConsole) commandContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	return ctx, func() {
		c.mu.Lock()
		c.cancel = nil
		c.mu.Unlock()
		cancel()
	}
}

func (c *termConsole) setBusy(b bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = b
}

// closeIfIdle writes msg and reports true when no command runs; a busy
// session ends by itself after its command.
func (c *termConsole) closeIfIdle(msg string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy || c.closing {
		return false
	}
	c.closing = true
	c.t.Write([]byte(msg))
	return true
}

// MaxLine bounds one line of input: a command line, a pasted key, a secret
// read with --stdin. Input is hostile: `head -c 200M /dev/zero | ssh gw`
// must cost the gateway no more than this per session.
const MaxLine = 64 << 10

// errLineTooLong ends a script: what follows the cut is not a line anyone
// meant to run.
var errLineTooLong = fmt.Errorf("a line longer than %d KiB; nothing more was read", MaxLine>>10)

// pipeConsole reads from a pipe: no echo to turn off, prompts go to stderr.
type pipeConsole struct {
	r      *bufio.Reader
	prompt io.Writer
}

func newPipeConsole(in io.Reader, prompt io.Writer) *pipeConsole {
	return &pipeConsole{r: bufio.NewReaderSize(in, 4096), prompt: prompt}
}

func (p *pipeConsole) ReadLine(prompt string) (string, error) {
	if prompt != "" {
		io.WriteString(p.prompt, prompt)
	}
	var line []byte
	for {
		chunk, err := p.r.ReadSlice('\n')
		if len(line)+len(chunk) > MaxLine+2 { // +2: the line's own "\r\n"
			return "", errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (len(line) == 0 || !errors.Is(err, io.EOF)) {
			return "", err
		}
		return strings.TrimRight(string(line), "\r\n"), nil
	}
}

func (p *pipeConsole) ReadPassword(prompt string) (string, error) {
	line, err := p.ReadLine(prompt)
	if prompt != "" {
		io.WriteString(p.prompt, "\n")
	}
	return line, err
}

func (p *pipeConsole) commandContext(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(parent)
}

// history keeps the last lines typed at the shell prompt, newest first,
// skipping empty lines (Ctrl-C leaves one) and repeats.
type history struct{ lines []string }

const historySize = 200

func (h *history) Add(line string) {
	if strings.TrimSpace(line) == "" || (len(h.lines) > 0 && h.lines[0] == line) {
		return
	}
	h.lines = append([]string{line}, h.lines...)
	if len(h.lines) > historySize {
		h.lines = h.lines[:historySize]
	}
}

func (h *history) Len() int { return len(h.lines) }

func (h *history) At(i int) string { return h.lines[i] }
