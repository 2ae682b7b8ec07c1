// Package sshtest runs commands over SSH for the tests of the SSH server
// and of the whole gateway.
package sshtest

import (
	"bytes"
	"errors"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// Run runs cmd in a new session of c and returns its stdout, stderr and
// exit status; any failure but a non-zero exit ends the test.
func Run(t testing.TB, c *gossh.Client, cmd string) (string, string, int) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errw bytes.Buffer
	s.Stdout, s.Stderr = &out, &errw
	err = s.Run(cmd)
	code := 0
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitStatus()
	} else if err != nil {
		t.Fatalf("run %s: %v", cmd, err)
	}
	return out.String(), errw.String(), code
}
