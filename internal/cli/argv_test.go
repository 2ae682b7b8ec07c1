package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"list", []string{"list"}},
		{"  details  box1 ", []string{"details", "box1"}},
		{`say "hello world"`, []string{"say", "hello world"}},
		{`say 'a "b" c'`, []string{"say", `a "b" c`}},
		{`say a\ b`, []string{"say", "a b"}},
		{`say "a\"b" x""y`, []string{"say", `a"b`, "xy"}},
		{`say ''`, []string{"say", ""}},
		{`say "a\nb"`, []string{"say", `a\nb`}},
	} {
		got, err := Split(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// Regression: gliderlabs' Command() runs what it parsed so far, so
// `list "` became `list`. A quoting error must refuse the whole line.
func TestSplitRefusesBadQuoting(t *testing.T) {
	for _, in := range []string{`list "`, `list '`, `delete box1 \`, `a "b`, `a 'b`} {
		if got, err := Split(in); !errors.Is(err, ErrQuote) {
			t.Errorf("Split(%q) = %q, %v; want ErrQuote", in, got, err)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := NewFlagSet("delete")
	force := fs.BoolP("force", "f", false, "")
	yes := fs.Bool("yes", false, "")
	n := fs.Int("n", 0, "")
	pos, err := Parse(fs, []string{"--force", "box1", "--yes", "-n", "3", "box2", "--", "--not-a-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if !*force || !*yes || *n != 3 || !reflect.DeepEqual(pos, []string{"box1", "box2", "--not-a-flag"}) {
		t.Fatalf("force=%v yes=%v n=%d pos=%q", *force, *yes, *n, pos)
	}
}

// Short forms, Go's one-dash long spelling, values that look like flags.
func TestParseSpellings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		name string
	}{
		{[]string{"-f", "a"}, []string{"a"}, ""},
		{[]string{"a", "-force", "-name=x"}, []string{"a"}, "x"},
		{[]string{"-name", "-force", "a"}, []string{"a"}, "-force"},
		{[]string{"--name", "--", "a"}, []string{"a"}, "--"},
		{[]string{"-f=true", "--name=-f"}, []string{}, "-f"},
		{[]string{"-", "--", "-f"}, []string{"-", "-f"}, ""},
	} {
		fs := NewFlagSet("t")
		force := fs.BoolP("force", "f", false, "")
		name := fs.String("name", "", "")
		pos, err := Parse(fs, tc.args)
		if err != nil || !reflect.DeepEqual(pos, tc.pos) || *name != tc.name {
			t.Errorf("%q: pos %q name %q force %v err %v; want %q %q", tc.args, pos, *name, *force, err, tc.pos, tc.name)
		}
	}
}

// Errors are one line quoting the flag as it was typed.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"a", "--bogus"}, "unknown flag --bogus"},
		{[]string{"--bogus=1"}, "unknown flag --bogus"},
		{[]string{"-bogus"}, "unknown flag -bogus"},
		{[]string{"-x"}, "unknown flag -x"},
		{[]string{"-test.v"}, "unknown flag -test.v"},
		{[]string{"--cpu"}, "flag --cpu needs a value"},
		{[]string{"-cpu"}, "flag -cpu needs a value"},
		{[]string{"--cpu", "lots"}, `invalid value "lots" for --cpu: invalid syntax`},
		{[]string{"-cpu=99999999999999999999"}, `invalid value "99999999999999999999" for -cpu: value out of range`},
		{[]string{"-f=maybe"}, `invalid value "maybe" for -f: invalid syntax`},
		{[]string{"---x"}, "bad flag ---x"},
	} {
		fs := NewFlagSet("t")
		fs.BoolP("force", "f", false, "")
		fs.Int("cpu", 0, "")
		pos, err := Parse(fs, tc.args)
		if err == nil || err.Error() != tc.want || pos != nil {
			t.Errorf("%q: %v, %q; want %q", tc.args, err, pos, tc.want)
		}
	}
}

// Scenario: a value hidden after many repeats of the same flag. A flag
// given twice is refused, whatever its kind and spelling.
func TestFlagGivenTwice(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cpu", "1", "--cpu", "64"}, "flag --cpu is given more than once"},
		{[]string{"-cpu=1", "x", "--cpu=2"}, "flag -cpu and --cpu is given more than once"},
		{[]string{"--force", "--force"}, "flag --force is given"},
		{[]string{"--force=false", "-force"}, "flag --force and -force is given"},
		{[]string{"-f", "--force"}, "flag -f and --force is given"},
		{[]string{"-ff"}, "flag -f is given"},
	} {
		fs := NewFlagSet("t")
		fs.Int("cpu", 0, "")
		fs.BoolP("force", "f", false, "")
		if _, err := Parse(fs, tc.args); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "give it once") {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
	fs := NewFlagSet("t")
	cpu := fs.Int("cpu", 0, "")
	force := fs.Bool("force", false, "")
	if pos, err := Parse(fs, []string{"a", "--cpu", "3", "b", "--force", "--", "--cpu"}); err != nil || *cpu != 3 || !*force || len(pos) != 3 {
		t.Fatalf("once each: %v %v %d %v", pos, err, *cpu, *force)
	}
}
