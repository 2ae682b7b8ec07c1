//go:build !failpoint

package failpoint

// Hit does nothing without the failpoint build tag.
func Hit(string) {}

func Hang(string) {}
