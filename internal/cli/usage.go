package cli

import "fmt"

// UsageError marks a command written wrong (an unknown flag, a bad value,
// missing arguments): the caller's mistake, answered with exit status 2 on
// the command lines and 400 by the API, rather than a failure of the work.
type UsageError struct{ error }

// Usage marks err as a usage error.
func Usage(err error) error { return UsageError{err} }

// Usagef returns a usage error.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }
