// Package mountpath holds the rule for where a volume or dataset may show
// up inside a container: one rule for the shell, the API and the
// configuration.
package mountpath

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
)

// ErrBadPath refuses a mount path.
var ErrBadPath = errors.New("invalid mount path")

// forbidden are the trees a mount would hide or subvert: the kernel's
// views and the container's own system.
var forbidden = []string{"/proc", "/sys", "/dev", "/run", "/etc", "/boot"}

// Check returns p cleaned, or why it is refused: it must be absolute,
// already normal (no "..", "//" or trailing "/"), not "/" and not under a
// system tree.
func Check(p string) (string, error) {
	switch {
	case p == "" || !strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%w %q: give an absolute path such as /mnt/data", ErrBadPath, p)
	case strings.ContainsFunc(p, unicode.IsControl) || len(p) > 1024:
		return "", fmt.Errorf("%w %q: use printable characters", ErrBadPath, p)
	case path.Clean(p) != p:
		return "", fmt.Errorf("%w %q: write it normalised, as %s", ErrBadPath, p, path.Clean(p))
	case p == "/":
		return "", fmt.Errorf("%w %q: not the root of the container", ErrBadPath, p)
	}
	for _, f := range forbidden {
		if p == f || strings.HasPrefix(p, f+"/") {
			return "", fmt.Errorf("%w %q: nothing may be mounted over or under %s", ErrBadPath, p, f)
		}
	}
	return p, nil
}

// Overlaps reports whether one path is the other or lies under it: two
// mounts there would hide one another.
func Overlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}
