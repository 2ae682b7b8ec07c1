package argv

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
	force := fs.Bool("force", false, "")
	yes := fs.Bool("yes", false, "")
	n := fs.Int("n", 0, "")
	pos, err := Parse(fs, []string{"--force", "box1", "--yes", "-n", "3", "box2", "--", "--not-a-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if !*force || !*yes || *n != 3 || !reflect.DeepEqual(pos, []string{"box1", "box2", "--not-a-flag"}) {
		t.Fatalf("force=%v yes=%v n=%d pos=%q", *force, *yes, *n, pos)
	}
	if _, err := Parse(NewFlagSet("x"), []string{"a", "--bogus"}); err == nil || err.Error() != "unknown flag -bogus" {
		t.Fatalf("unknown flag: %v", err)
	}
}

// Scenario: a value hidden after many repeats of the same flag. A flag
// given twice is refused, whatever its kind and spelling.
func TestFlagGivenTwice(t *testing.T) {
	for _, args := range [][]string{
		{"--cpu", "1", "--cpu", "64"}, {"-cpu=1", "x", "--cpu=2"}, {"--force", "--force"}, {"--force=false", "-force"},
	} {
		fs := NewFlagSet("t")
		fs.Int("cpu", 0, "")
		fs.Bool("force", false, "")
		if _, err := Parse(fs, args); err == nil || !strings.Contains(err.Error(), "more than once") {
			t.Errorf("%v: %v", args, err)
		}
	}
	fs := NewFlagSet("t")
	cpu := fs.Int("cpu", 0, "")
	force := fs.Bool("force", false, "")
	if pos, err := Parse(fs, []string{"a", "--cpu", "3", "b", "--force", "--", "--cpu"}); err != nil || *cpu != 3 || !*force || len(pos) != 3 {
		t.Fatalf("once each: %v %v %d %v", pos, err, *cpu, *force)
	}
}
