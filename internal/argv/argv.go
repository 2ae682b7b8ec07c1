// Package argv splits command lines the way a POSIX shell would (quotes and
// backslashes only: no variables, globs or substitutions) and parses flags
// that may stand before, between or after positional arguments.
package argv

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
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

// NewFlagSet returns a FlagSet that reports errors by return value only.
func NewFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// Parse parses flags anywhere in args and returns the positional arguments.
// A "--" ends flag parsing. Errors are one line, without the flag package's
// usage dump.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	// A flag given twice is refused rather than the last one winning:
	// "--cpu 1 ... --cpu 64" deep in a long line is a mistake or a trick.
	var dup string
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Value.(type) {
		case onceValue, onceBool:
			return // parsed before with this set
		}
		o := onceValue{Value: f.Value, name: f.Name, dup: &dup, set: new(bool)}
		if b, ok := f.Value.(boolFlag); ok && b.IsBoolFlag() {
			f.Value = onceBool{o}
		} else {
			f.Value = o
		}
	})
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			if dup != "" {
				return nil, fmt.Errorf("flag --%s is given more than once; give it once", dup)
			}
			msg := err.Error()
			if f, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
				msg = "unknown flag " + f
			}
			return nil, errors.New(msg)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// The flag package stops at "--" (consumed) or at the first non-flag.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

type boolFlag interface{ IsBoolFlag() bool }

// onceValue refuses a second Set of the flag it wraps.
type onceValue struct {
	flag.Value
	name string
	dup  *string
	set  *bool
}

func (o onceValue) Set(v string) error {
	if *o.set {
		*o.dup = o.name
		return errors.New("given more than once")
	}
	*o.set = true
	return o.Value.Set(v)
}

// onceBool is onceValue for a flag that takes no value.
type onceBool struct{ onceValue }

func (onceBool) IsBoolFlag() bool { return true }
