package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/lxcgate/lxcgate/internal/units"
)

// The value types of the file's keys: each reads and writes its own text.

// Age is a duration that may also be written in days: "180d".
type Age time.Duration

// UnmarshalText parses "180d" or a Go duration.
func (a *Age) UnmarshalText(b []byte) error {
	v, err := units.ParseAge(string(b))
	if err != nil {
		return err
	}
	*a = Age(v)
	return nil
}

// MarshalText writes whole days as "180d", anything else as Go does.
func (a Age) MarshalText() ([]byte, error) {
	d := time.Duration(a)
	if d%(24*time.Hour) == 0 {
		return []byte(fmt.Sprintf("%dd", d/(24*time.Hour))), nil
	}
	return []byte(d.String()), nil
}

// D returns the time.Duration.
func (a Age) D() time.Duration { return time.Duration(a) }

// Span is an optional length of time: "" (none), days ("7d") or a Go
// duration ("12h").
type Span time.Duration

// UnmarshalText parses "", "7d" or a Go duration.
func (a *Span) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*a = 0
		return nil
	}
	v, err := units.ParseAge(string(b))
	if err != nil {
		return err
	}
	*a = Span(v)
	return nil
}

// MarshalText writes none as "", whole days as "7d".
func (a Span) MarshalText() ([]byte, error) {
	if a == 0 {
		return []byte{}, nil
	}
	return []byte(units.FormatAge(time.Duration(a))), nil
}

// D returns the time.Duration.
func (a Span) D() time.Duration { return time.Duration(a) }

// Size is a byte count written as "2GiB".
type Size int64

// UnmarshalText parses a size such as 512MiB or 2GiB.
func (s *Size) UnmarshalText(b []byte) error {
	n, err := units.ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// MarshalText writes the size as LXD would, or in bytes where that form
// would round (1000000000 is 953.7MiB): what is written loads back the same.
func (s Size) MarshalText() ([]byte, error) {
	if f := units.FormatSize(int64(s)); mustParse(f) == int64(s) {
		return []byte(f), nil
	}
	return []byte(strconv.FormatInt(int64(s), 10) + "B"), nil
}

func mustParse(s string) int64 {
	n, _ := units.ParseSize(s)
	return n
}

// Duration is a time.Duration written as "30s" or "10m".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (say \"30s\" or \"10m\")", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as Go prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
