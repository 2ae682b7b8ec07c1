package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// FlagError turns pflag's parse errors into one line that quotes the flag
// as it stands in args (the arguments as typed, before Normalize).
func FlagError(err error, args []string) error {
	var (
		notExist *pflag.NotExistError
		required *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return err
	case errors.As(err, &invalid) && errors.Is(err, errTwice):
		return fmt.Errorf("flag %s is given more than once; give it once", typed(args, invalid.GetFlag()))
	case errors.As(err, &invalid):
		return fmt.Errorf("invalid value %q for %s: %v", invalid.GetValue(), typed(args, invalid.GetFlag()), cause(err))
	case errors.As(err, &required):
		return fmt.Errorf("flag %s needs a value", typed(args, required.GetFlag()))
	case errors.As(err, &notExist):
		if s := notExist.GetSpecifiedShortnames(); s != "" {
			return fmt.Errorf("unknown flag -%s", s)
		}
		return fmt.Errorf("unknown flag %s", spelled(args, notExist.GetSpecifiedName()))
	case errors.As(err, &syntax):
		return fmt.Errorf("bad flag %s", syntax.GetSpecifiedFlag())
	}
	return err
}

// cause is why a value was refused, without strconv's function names.
func cause(err error) error {
	var num *strconv.NumError
	if errors.As(err, &num) {
		return num.Err
	}
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// spelled is the long flag name as typed: "-name" or "--name".
func spelled(args []string, name string) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		if n, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "="); n == name && strings.HasPrefix(a, "-") {
			return a[:len(a)-len(strings.TrimLeft(a, "-"))] + name
		}
	}
	return "--" + name
}

// typed is how f was written in args: every spelling used, in order of
// first use ("--force", or "-f and --force").
func typed(args []string, f *pflag.Flag) string {
	var seen []string
	add := func(s string) {
		for _, x := range seen {
			if x == s {
				return
			}
		}
		seen = append(seen, s)
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		switch {
		case !strings.HasPrefix(a, "-") || a == "-":
		case strings.HasPrefix(a, "--"):
			if n, _, _ := strings.Cut(a[2:], "="); n == f.Name {
				add("--" + n)
			}
		default:
			if n, _, _ := strings.Cut(a[1:], "="); n == f.Name {
				add("-" + n)
			} else if f.Shorthand != "" && strings.Contains(shortGroup(a), f.Shorthand) {
				add("-" + f.Shorthand)
			}
		}
	}
	if len(seen) == 0 {
		return "--" + f.Name
	}
	return strings.Join(seen, " and ")
}

// shortGroup is the letters of a shorthand group, up to an inline value.
func shortGroup(a string) string {
	g, _, _ := strings.Cut(a[1:], "=")
	return g
}
