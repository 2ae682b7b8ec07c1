package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

// WriteFlags writes the help table of declared flags: one line per flag,
// its spellings and value, then its help.
func WriteFlags(w io.Writer, flags []Flag) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range flags {
		h := f.Help
		if f.Default != "" && f.Kind != Bool {
			h += " (default " + f.Default + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", spelling(f.Short, f.Name, f.Placeholder()), h)
	}
	tw.Flush()
}

// WriteFlagTable writes the help table of a pflag set defined with
// DefineFlags, in the order defined: the host command line's help.
func WriteFlagTable(w io.Writer, fs *pflag.FlagSet) {
	fs.SortFlags = false
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		h := f.Usage
		if f.DefValue != "" && f.NoOptDefVal == "" {
			h += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", spelling(f.Shorthand, f.Name, FlagArg(f)), h)
	})
	tw.Flush()
}

// spelling is "-f, --force" or "    --cpu N".
func spelling(short, name, arg string) string {
	s := "    --" + name
	if short != "" {
		s = "-" + short + ", --" + name
	}
	if arg != "" {
		s += " " + arg
	}
	return s
}

// FlagArg is the placeholder of a pflag flag's value in help ("" when it
// takes none): as DefineFlags recorded it, else its type in capitals.
func FlagArg(f *pflag.Flag) string {
	if a := f.Annotations[annotationArg]; len(a) == 1 {
		return a[0]
	}
	if f.NoOptDefVal != "" {
		return ""
	}
	return strings.ToUpper(f.Value.Type())
}
