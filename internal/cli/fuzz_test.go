package cli

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// quote single-quotes w for Split (and sh), closing the quote around each
// single quote inside and writing that one backslash-escaped.
func quote(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// FuzzSplit checks that Split never panics, refuses only with ErrQuote and
// then returns no words, is deterministic, and that its words survive
// re-quoting: single-quoting each word and splitting again gives them back.
// A line it accepts stops being accepted once an unterminated quote or a
// trailing backslash is appended.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"",
		"   \t\r\n ",
		"list",
		`  details  box1 `,
		`say "hello world"`,
		`say 'a "b" c'`,
		`say a\ b`,
		`say "a\"b" x""y`,
		`say ''`,
		`say "a\nb" "\$x" "\q"`,
		`it'\''s`,
		`list "`,
		`list '`,
		`delete box1 \`,
		`a"b'c`,
		"nul\x00byte 'in\x00quotes'",
		"\x00",
		"h\u00e9llo w\u00f6rld \u65e5\u672c 'emoji \U0001F600'",
		"\xff\xfe invalid utf8 \"\xc3\"",
		strings.Repeat(`a\ b "c d" 'e f' `, 200),
		strings.Repeat("'", 1001),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		again, err2 := Split(line)
		if !errors.Is(err2, err) || !slices.Equal(words, again) {
			t.Fatalf("Split(%q) not deterministic: %q, %v then %q, %v", line, words, err, again, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrQuote) {
				t.Fatalf("Split(%q): error %v is not ErrQuote", line, err)
			}
			if words != nil {
				t.Fatalf("Split(%q) refused the line but returned words %q", line, words)
			}
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = quote(w)
		}
		line2 := strings.Join(quoted, " ")
		words2, err := Split(line2)
		if err != nil || !slices.Equal(words, words2) {
			t.Fatalf("Split(%q) = %q; re-quoted as %q it splits to %q, %v", line, words, line2, words2, err)
		}
		for _, tail := range []string{` '`, ` "`, `\`, ` 'x`, ` "x`} {
			if w, err := Split(line + tail); !errors.Is(err, ErrQuote) {
				t.Fatalf("Split(%q) = %q, %v; want ErrQuote", line+tail, w, err)
			}
		}
	})
}

// FuzzParse checks that flag parsing never panics on any arguments (given
// as one string, split on NUL, which no argument can contain), and that
// the positional arguments of a successful parse are a subsequence of the
// input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"box1",
		"--force\x00box1\x00--yes\x00-n\x003\x00box2\x00--\x00--not-a-flag",
		"-n\x00--\x00x\x00-force",
		"-name=--\x00a\x00--\x00b",
		"--bogus",
		"a\x00--bogus",
		"-n",
		"-n\x00many",
		"-n=99999999999999999999999",
		"-force=maybe",
		"-h",
		"--help",
		"-",
		"--",
		"---x",
		"-=x",
		"-d\x001h\x00-d\x00soon",
		"\x00\x00\x00",
		"-name\x00h\u00e9llo\x00\u65e5\u672c\x00\xff\xfe",
		"-name\x00line\nbreak\x00-bo\ngus",
		strings.Repeat("-force\x00x\x00", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs := NewFlagSet("fuzz")
		fs.BoolP("force", "f", false, "")
		fs.Bool("yes", false, "")
		fs.Int("n", 0, "")
		fs.String("name", "", "")
		fs.Duration("d", 0, "")
		in := slices.Clone(args)
		pos, err := Parse(fs, args)
		if !slices.Equal(in, args) {
			t.Fatalf("Parse changed its input: %q became %q", in, args)
		}
		if err != nil {
			if pos != nil {
				t.Fatalf("Parse(%q) failed (%v) but returned %q", args, err, pos)
			}
			return
		}
		if !isSubsequence(pos, args) {
			t.Fatalf("Parse(%q) = %q: not a subsequence of the input", args, pos)
		}
	})
}

// isSubsequence reports whether sub appears in s in order, gaps allowed.
func isSubsequence(sub, s []string) bool {
	i := 0
	for _, w := range s {
		if i < len(sub) && sub[i] == w {
			i++
		}
	}
	return i == len(sub)
}
