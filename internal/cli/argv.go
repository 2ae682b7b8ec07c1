// Package cli is what lxcgate's two command lines, the SSH shell and the
// host's 'lxcgate', share: splitting a line the way a POSIX shell would
// (quotes and backslashes only: no variables, globs or substitutions),
// declaring and parsing flags with spf13/pflag (anywhere among the
// positional arguments, "--" ending them, a flag given twice refused, errors
// that quote the flag as it was typed), their help tables, usage errors, and
// rendering listings as table, JSON, YAML or CSV.
package cli

import (
	"errors"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// ErrQuote is returned for an unterminated quote or a trailing backslash.
// Such a line is refused whole, never run as far as it parsed.
var ErrQuote = errors.New("unterminated quote or trailing backslash")

// Split breaks line into words.
func Split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 >= len(line) {
				return nil, ErrQuote
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, ErrQuote
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				// Inside double quotes a backslash escapes only these, as in sh.
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, ErrQuote
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// NewFlagSet returns a FlagSet that reports errors by return value only:
// it prints nothing and exits nothing.
func NewFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SetInterspersed(true)
	return fs
}

// Parse parses flags anywhere in args and returns the positional arguments.
// A "--" ends flag parsing. A flag given twice is refused. Errors are one
// line quoting the flag as typed.
func Parse(fs *pflag.FlagSet, args []string) ([]string, error) {
	Once(fs)
	norm, err := Normalize(fs, args)
	if err != nil {
		return nil, err
	}
	if err := fs.Parse(norm); err != nil {
		return nil, FlagError(err, args)
	}
	return fs.Args(), nil
}

// errTwice is what a flag's second value is refused with.
var errTwice = errors.New("given more than once")

// once refuses a second Set of the flag value it wraps.
type once struct {
	pflag.Value
	set bool
}

func (o *once) Set(v string) error {
	if o.set {
		return errTwice
	}
	o.set = true
	return o.Value.Set(v)
}

// Unwrap returns the wrapped value.
func (o *once) Unwrap() pflag.Value { return o.Value }

// Once makes every flag of fs refuse a second value: "--cpu 1 ... --cpu 64"
// deep in a long line is a mistake or a trick, not a correction. It may be
// called again after more flags were defined.
func Once(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if _, ok := f.Value.(*once); !ok {
			f.Value = &once{Value: f.Value}
		}
	})
}

// Normalize returns a copy of args in which a long flag written with one
// dash, as Go's flag package takes it (-force, -cpu=2), has two. Values
// and everything after "--" are left alone.
func Normalize(fs *pflag.FlagSet, args []string) ([]string, error) {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		body := a[1:]
		if a[1] == '-' {
			body = a[2:]
		}
		name, _, inline := strings.Cut(body, "=")
		var f *pflag.Flag
		switch {
		case a[1] == '-':
			f = fs.Lookup(name)
		case strings.HasPrefix(a, "-test."):
			// pflag would skip it silently, as if go test had passed it.
			return nil, errors.New("unknown flag " + a)
		case fs.Lookup(name) != nil && (len(name) > 1 || fs.ShorthandLookup(name) == nil):
			f = fs.Lookup(name)
			a = "-" + a
		default:
			f, inline = lastShorthand(fs, a)
		}
		out = append(out, a)
		if f != nil && !inline && f.NoOptDefVal == "" && i+1 < len(args) {
			out = append(out, args[i+1]) // the flag's value, whatever it looks like
			i++
		}
	}
	return out, nil
}

// lastShorthand returns the flag of a shorthand group (-fy, -nVALUE) that
// takes a value, and whether that value is inside the group.
func lastShorthand(fs *pflag.FlagSet, group string) (*pflag.Flag, bool) {
	for j := 1; j < len(group); j++ {
		f := fs.ShorthandLookup(group[j : j+1])
		if f == nil {
			return nil, true // pflag reports it
		}
		if f.NoOptDefVal == "" {
			return f, j < len(group)-1
		}
	}
	return nil, true
}
