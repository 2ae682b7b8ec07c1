package cli

import (
	"fmt"
	"strconv"

	"github.com/lxcgate/lxcgate/internal/units"
	"github.com/spf13/pflag"
)

// Kind is what a flag's value is.
type Kind int

// Flag kinds.
const (
	Bool   Kind = iota // no value: --force
	String             // --image IMG
	Int                // --cpu N
	Size               // --memory SIZE (512MiB, 4GiB)
	List               // repeatable: --volume A --volume B
)

// Flag declares one flag of a command: its spellings, value, help and gate.
type Flag struct {
	Name    string   // long name: --Name
	Short   string   // one letter, or "": -S
	Kind    Kind     // Bool unless told
	Arg     string   // the value's placeholder in help (N, SIZE); by kind when empty
	Default string   // the value when the flag is not given, as typed
	Values  []string // when set, the only values accepted (and what Tab offers)
	Help    string   // one line
	Admin   bool     // the flag needs the admin role; others do not see it
}

// TakesValue reports whether the flag is followed by a value.
func (f Flag) TakesValue() bool { return f.Kind != Bool }

// Placeholder is the value's placeholder in help ("" for a Bool).
func (f Flag) Placeholder() string {
	switch {
	case f.Kind == Bool:
		return ""
	case f.Arg != "":
		return f.Arg
	case f.Kind == Int:
		return "N"
	case f.Kind == Size:
		return "SIZE"
	}
	return "VALUE"
}

// HelpFlag is every command's -h/--help.
var HelpFlag = Flag{Name: "help", Short: "h", Help: "show this help"}

// Output formats of listings.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
	FormatCSV   = "csv"
)

// FormatFlags are the flags of every listing: --format, and --json as its
// short form.
var FormatFlags = []Flag{
	{Name: "format", Kind: String, Arg: "FORMAT", Default: FormatTable, Values: []string{FormatTable, FormatJSON, FormatYAML, FormatCSV},
		Help: "output as table, json, yaml or csv"},
	{Name: "json", Help: "short for --format json"},
}

// Values are one invocation's flag values, read by name. Reading a flag
// the command does not declare is a bug, and panics.
type Values struct {
	fs *pflag.FlagSet
	v  map[string]any
}

func (v Values) get(name string) any {
	x, ok := v.v[name]
	if !ok {
		panic(fmt.Sprintf("flag --%s is not declared", name))
	}
	return x
}

// Bool is a Bool flag's value.
func (v Values) Bool(name string) bool { return bool(*v.get(name).(*boolValue)) }

// String is a String flag's value.
func (v Values) String(name string) string { return v.get(name).(*stringValue).s }

// Int is an Int flag's value.
func (v Values) Int(name string) int { return int(*v.get(name).(*intValue)) }

// Size is a Size flag's value in bytes.
func (v Values) Size(name string) int64 { return int64(*v.get(name).(*sizeValue)) }

// List is a List flag's values, in the order given.
func (v Values) List(name string) []string {
	return append([]string(nil), v.get(name).(*listValue).s...)
}

// Changed reports whether the flag was given.
func (v Values) Changed(name string) bool {
	v.get(name)
	return v.fs.Changed(name)
}

// Format is the output format asked for with --format or --json.
func (v Values) Format() (string, error) {
	if _, ok := v.v["format"]; !ok {
		return FormatTable, nil
	}
	f := v.String("format")
	if v.Bool("json") {
		if v.Changed("format") && f != FormatJSON {
			return "", fmt.Errorf("--json and --format %s disagree; give one", f)
		}
		return FormatJSON, nil
	}
	return f, nil
}

// DefineFlags defines flags on fs and returns their values once fs has
// parsed. The host command line defines its shared flags with it too.
func DefineFlags(fs *pflag.FlagSet, flags []Flag) Values {
	v := Values{fs: fs, v: map[string]any{}}
	for _, f := range flags {
		var val pflag.Value
		switch f.Kind {
		case Bool:
			b := boolValue(f.Default == "true")
			val = &b
		case Int:
			n, _ := strconv.Atoi(f.Default)
			i := intValue(n)
			val = &i
		case Size:
			n, _ := units.ParseSize(f.Default)
			s := sizeValue(n)
			val = &s
		case List:
			val = &listValue{}
		default:
			val = &stringValue{s: f.Default, choices: f.Values}
		}
		fl := fs.VarPF(val, f.Name, f.Short, f.Help)
		if f.Kind == Bool {
			fl.NoOptDefVal = "true"
		}
		fl.Annotations = map[string][]string{annotationArg: {f.Placeholder()}}
		if f.Default != "" && f.Kind != Bool {
			fl.DefValue = f.Default
		} else {
			fl.DefValue = ""
		}
		v.v[f.Name] = val
	}
	return v
}

// annotationArg holds a flag's value placeholder for help.
const annotationArg = "lxcgate-arg"
