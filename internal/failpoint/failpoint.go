//go:build failpoint

package failpoint

import (
	"os"
	"syscall"
)

var armed = os.Getenv("LXCGATE_FAILPOINT")

// Hit kills the process with SIGKILL when name is the armed failpoint.
func Hit(name string) {
	if armed != "" && armed == name {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// Hang blocks for good when the armed failpoint is name: a stuck loop.
func Hang(name string) {
	if armed != "" && armed == name {
		select {}
	}
}
