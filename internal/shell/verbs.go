package shell

import (
	"errors"
	"strings"

	"github.com/lxcgate/lxcgate/internal/cli"
)

// errVerbUsage is what a verb's Run returns for arguments it refuses; it
// becomes "usage: " and the verb's usage line.
var errVerbUsage = errors.New("bad usage")

// allFlags are the command's flags and then its verbs' (each name once, in
// order of declaration): the parent parses them all, so that a flag may
// stand before the verb.
func (cmd *Command) allFlags() []cli.Flag {
	if len(cmd.Subs) == 0 {
		return cmd.Flags
	}
	out := append([]cli.Flag(nil), cmd.Flags...)
	seen := map[string]bool{}
	for _, f := range out {
		seen[f.Name] = true
	}
	for _, sub := range cmd.Subs {
		for _, f := range sub.allFlags() {
			if !seen[f.Name] {
				seen[f.Name] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// sub returns the verb named name, or nil.
func (cmd *Command) sub(name string) *Command {
	for _, s := range cmd.Subs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// verbUsage is the usage line of verb v under path ("user key add NAME
// [KEY]"); a verb with verbs of its own joins theirs with " | ".
func verbUsage(path string, v *Command) string {
	path += " " + v.Name
	if len(v.Subs) > 0 {
		lines := make([]string, len(v.Subs))
		for i, s := range v.Subs {
			lines[i] = verbUsage(path, s)
		}
		return strings.Join(lines, " | ")
	}
	if v.Args != "" {
		path += " " + v.Args
	}
	for _, f := range v.Flags {
		path += " [--" + f.Name
		if p := f.Placeholder(); p != "" {
			path += " " + p
		}
		path += "]"
	}
	return path
}

// verbList is the help's list of the command's verbs, one usage a line.
func (cmd *Command) verbList() string {
	var b strings.Builder
	for _, v := range cmd.Subs {
		b.WriteString("  " + verbUsage(cmd.Name, v) + "\n")
	}
	return b.String()
}

// verbNames are the names of the command's verbs.
func (cmd *Command) verbNames() []string {
	names := make([]string, len(cmd.Subs))
	for i, v := range cmd.Subs {
		names[i] = v.Name
	}
	return names
}

// verb picks the verb that args name and returns its handler, its
// arguments and its usage line. A command with no verbs runs itself; one
// with a Run of its own runs it when no verb fits (snapshot NAME). A verb
// given the wrong number of arguments, or an unknown word below the first,
// is answered with the usage line.
func (cmd *Command) verb(args []string) (*Command, []string, string, error) {
	node, parent, line := cmd, "", ""
	for len(node.Subs) > 0 {
		var v *Command
		if len(args) > 0 {
			v = node.sub(args[0])
		}
		switch {
		case v == nil && node == cmd && cmd.Run != nil:
			return cmd, args, "", nil
		case v == nil && node != cmd:
			return nil, nil, "", cli.Usagef("usage: %s", verbUsage(parent, node))
		case v == nil && len(args) == 0:
			return nil, nil, "", cli.Usagef("missing arguments")
		case v == nil:
			return nil, nil, "", cmd.noVerb(args[0])
		}
		path := strings.TrimPrefix(parent+" "+node.Name, " ")
		line = verbUsage(path, v)
		rest := args[1:]
		if len(v.Subs) == 0 && (len(rest) < v.MinArgs || (v.MaxArgs >= 0 && len(rest) > v.MaxArgs)) {
			switch {
			case node == cmd && cmd.Run != nil:
				return cmd, args, "", nil
			case node != cmd:
				line = verbUsage(parent, node) // below the first verb, the whole group's
			}
			return nil, nil, "", cli.Usagef("usage: %s", line)
		}
		node, parent, args = v, path, rest
	}
	return node, args, line, nil
}

// dispatch runs the verb args name (the command itself when it has none).
func (cmd *Command) dispatch(c *Ctx, args []string) error {
	verb, args, line, err := cmd.verb(args)
	if err != nil {
		return err
	}
	err = verb.Run(c, args)
	if errors.Is(err, errVerbUsage) {
		return cli.Usagef("usage: %s", line)
	}
	return err
}

// noVerb answers a first argument that names no verb.
func (cmd *Command) noVerb(word string) error {
	if cmd.NoVerb != nil {
		return cmd.NoVerb
	}
	return cli.Usagef("unknown verb %q; use %s", word, cli.OrList(cmd.verbNames()))
}

// completeVerb offers the verbs where one is due, else what the picked
// verb (or the command itself) offers.
func (cmd *Command) completeVerb(c *Ctx, pos []string) []string {
	node := cmd
	for len(node.Subs) > 0 {
		if len(pos) == 0 {
			out := node.verbNames()
			if node == cmd && cmd.Complete != nil {
				out = append(out, cmd.Complete(c, pos)...)
			}
			return out
		}
		v := node.sub(pos[0])
		if v == nil {
			if node == cmd && cmd.Complete != nil {
				return cmd.Complete(c, pos)
			}
			return nil
		}
		node, pos = v, pos[1:]
	}
	if node.Complete == nil {
		return nil
	}
	return node.Complete(c, pos)
}
