package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lxcgate/lxcgate/internal/cli"
)

// overviewColumn is where the overview's descriptions start.
const overviewColumn = 44

// writeOverview writes 'lxcgate help': every command with its arguments
// and flags (README's "Host command line" is this, see TestREADMEHostHelp).
func writeOverview(w io.Writer, root *cobra.Command) {
	fmt.Fprintf(w, "usage: lxcgate [--config FILE] [--data DIR] COMMAND\n\ncommands:\n")
	walk(root, func(c *cobra.Command) {
		if c == root || c.HasSubCommands() || c.Hidden || c.Name() == "help" {
			return
		}
		u := strings.TrimPrefix(c.CommandPath(), root.Name()+" ") + useArgs(c) + flagSummary(c)
		if len(u) > overviewColumn {
			fmt.Fprintf(w, "  %s\n  %-*s  %s\n", u, overviewColumn, "", c.Short)
			return
		}
		fmt.Fprintf(w, "  %-*s  %s\n", overviewColumn, u, c.Short)
	})
	fmt.Fprintf(w, "\nGlobal flags may stand anywhere; 'lxcgate COMMAND -h' explains one.\n%s\n", root.Long)
}

// useArgs is what follows the name in a command's Use.
func useArgs(c *cobra.Command) string {
	if _, rest, ok := strings.Cut(c.Use, " "); ok {
		return " " + rest
	}
	return ""
}

// flagSummary is " [--name ARG]" for each of c's own flags.
func flagSummary(c *cobra.Command) string {
	var b strings.Builder
	local := c.LocalNonPersistentFlags()
	local.SortFlags = false
	local.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		b.WriteString(" [--" + f.Name)
		if f.NoOptDefVal == "" {
			b.WriteString(" " + cli.FlagArg(f))
		}
		b.WriteString("]")
	})
	return b.String()
}

// writeHelp writes 'lxcgate COMMAND -h' and 'lxcgate help COMMAND'.
func writeHelp(w io.Writer, c *cobra.Command) {
	if !c.HasParent() {
		writeOverview(w, c)
		return
	}
	use := c.CommandPath() + useArgs(c)
	if c.HasSubCommands() {
		use = c.CommandPath() + " COMMAND"
	} else if c.LocalNonPersistentFlags().HasAvailableFlags() {
		use += " [flags]"
	}
	fmt.Fprintf(w, "usage: %s\n\n%s\n", use, c.Short)
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", c.Long)
	}
	if c.HasSubCommands() {
		fmt.Fprintln(w, "\ncommands:")
		for _, sub := range c.Commands() {
			if !sub.Hidden {
				fmt.Fprintf(w, "  %-*s  %s\n", overviewColumn-8, sub.Name()+useArgs(sub), sub.Short)
			}
		}
	}
	if local := c.LocalNonPersistentFlags(); local.HasAvailableFlags() {
		fmt.Fprintln(w, "\nflags:")
		cli.WriteFlagTable(w, local)
	}
	fmt.Fprintln(w, "\nglobal flags:")
	cli.WriteFlagTable(w, c.InheritedFlags())
}

// subNames is "add|list|..." for a group's usage line.
func subNames(c *cobra.Command) string {
	var names []string
	for _, sub := range c.Commands() {
		names = append(names, sub.Name())
	}
	return strings.Join(names, "|") + " ..."
}

// allFlags is every flag of the tree in one set, for cli.Normalize.
func allFlags(root *cobra.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet("all", pflag.ContinueOnError)
	walk(root, func(c *cobra.Command) {
		for _, set := range []*pflag.FlagSet{c.PersistentFlags(), c.LocalNonPersistentFlags()} {
			set.VisitAll(func(f *pflag.Flag) {
				if fs.Lookup(f.Name) == nil && (f.Shorthand == "" || fs.ShorthandLookup(f.Shorthand) == nil) {
					fs.AddFlag(f)
				}
			})
		}
	})
	return fs
}
