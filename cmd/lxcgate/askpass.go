package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// askSecrets asks each prompt in turn on the terminal f and reads a line for
// each without echo. Echo goes off before the first prompt is written and
// stays off until the last answer is read: term.ReadPassword turns it off only
// after the prompt, so a fast typist (or expect) saw the password echoed.
func askSecrets(f *os.File, w io.Writer, prompts ...string) ([]string, error) {
	fd := int(f.Fd())
	saved, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("read the terminal's settings: %w", err)
	}
	quiet := *saved
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	// TCSETS, not TCSETSF: what was typed ahead is kept, only not shown.
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, fmt.Errorf("turn the terminal's echo off: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, saved) //nolint:errcheck // best effort on the way out
	answers := make([]string, 0, len(prompts))
	for _, p := range prompts {
		fmt.Fprint(w, p)
		line, err := readTermLine(f)
		fmt.Fprintln(w)
		if err != nil {
			return nil, err
		}
		answers = append(answers, line)
	}
	return answers, nil
}

// readTermLine reads up to a newline one byte at a time, so that nothing
// past the line is taken from the terminal.
func readTermLine(f *os.File) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := f.Read(b)
		if n == 1 {
			switch b[0] {
			case '\n':
				return string(line), nil
			case '\r':
				continue
			}
			line = append(line, b[0])
			if len(line) > 4096 {
				return "", errors.New("the answer is longer than 4096 bytes")
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", errors.New("no answer on the terminal (end of input)")
			}
			return "", err
		}
	}
}
