package lxdtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// Spawned is a streaming process the fake ran: the container, what ran, as
// whom, and the signals it got.
type Spawned struct {
	Instance string // project/name
	Process  lxd.Process
}

// Program stands for what a spawned process does, given its process; it
// returns the exit status. The default copies stdin to stdout (cat) and
// exits 0, which is what a relay or an SFTP server looks like from outside.
type Program func(ctx context.Context, p lxd.Process) int

// Spawn runs f.Program (or cat) for a running instance, as LXD would, and
// records the call. Like LXD, it refuses a stopped instance.
func (f *Fake) Spawn(ctx context.Context, project, name string, p lxd.Process) (int, error) {
	f.mu.Lock()
	in, err := f.get(project, name)
	if err == nil && !in.Running {
		err = errors.New("instance is not running")
	}
	if err != nil {
		f.mu.Unlock()
		return -1, fmt.Errorf("exec in %s: %w", name, err)
	}
	f.Spawns = append(f.Spawns, Spawned{Instance: key(project, name), Process: p})
	prog := f.Program
	f.mu.Unlock()
	if prog == nil {
		prog = Cat
	}
	return prog(ctx, p), nil
}

// Cat copies stdin to stdout until either ends or ctx does.
func Cat(ctx context.Context, p lxd.Process) int {
	done := make(chan struct{})
	go func() {
		if p.Stdin != nil && p.Stdout != nil {
			io.Copy(p.Stdout, p.Stdin)
		}
		close(done)
	}()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
		return 129 // SIGHUP
	}
}

// Shell is a Program that understands "echo WORDS", "exit N" and
// "printenv NAME" in a command's last argument, enough for a test to see
// its command, environment and exit status go through.
func Shell(ctx context.Context, p lxd.Process) int {
	cmd := p.Argv[len(p.Argv)-1]
	code := 0
	for _, part := range strings.Split(cmd, ";") {
		f := strings.Fields(part)
		switch {
		case len(f) == 0:
		case f[0] == "echo":
			fmt.Fprintln(p.Stdout, strings.Join(f[1:], " "))
		case f[0] == "printenv" && len(f) == 2:
			fmt.Fprintln(p.Stdout, p.Env[f[1]])
		case f[0] == "exit" && len(f) == 2:
			fmt.Sscan(f[1], &code)
			return code
		case f[0] == "cat":
			return Cat(ctx, p)
		default:
			if p.Stderr != nil {
				fmt.Fprintf(p.Stderr, "sh: %s: not found\n", f[0])
			}
			code = 127
		}
	}
	return code
}

// SetProgram sets what spawned processes do from now on.
func (f *Fake) SetProgram(p Program) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Program = p
}

// SpawnCount is how many processes were spawned.
func (f *Fake) SpawnCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Spawns)
}
