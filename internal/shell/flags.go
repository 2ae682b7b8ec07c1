package shell

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lxcgate/lxcgate/internal/quota"
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

// takesValue reports whether the flag is followed by a value.
func (f Flag) takesValue() bool { return f.Kind != Bool }

// arg is the value's placeholder in help.
func (f Flag) arg() string {
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

// helpFlag is every command's -h/--help.
var helpFlag = Flag{Name: "help", Short: "h", Help: "show this help"}

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

// QuotaFlags are the flags that change a user's quota, in the shell's
// quota command and the host's 'lxcgate user quota' alike: one per field
// of quota.Fields.
var QuotaFlags = quotaFlags()

func quotaFlags() []Flag {
	kinds := map[quota.Kind]Kind{quota.Count: Int, quota.Size: Size, quota.Group: String}
	var out []Flag
	for _, f := range quota.Fields {
		fl := Flag{Name: f.Name, Kind: kinds[f.Kind], Help: f.Help, Admin: true}
		if f.Kind == quota.Group {
			fl.Arg = "GROUP"
		}
		out = append(out, fl)
	}
	return out
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
		default:
			val = &stringValue{s: f.Default, choices: f.Values}
		}
		fl := fs.VarPF(val, f.Name, f.Short, f.Help)
		if f.Kind == Bool {
			fl.NoOptDefVal = "true"
		}
		fl.Annotations = map[string][]string{annotationArg: {f.arg()}}
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

type boolValue bool

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b = boolValue(v)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) Type() string     { return "bool" }
func (b *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (i *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	*i = intValue(n)
	return nil
}
func (i *intValue) String() string { return strconv.Itoa(int(*i)) }
func (i *intValue) Type() string   { return "int" }

type sizeValue int64

func (z *sizeValue) Set(s string) error {
	n, err := units.ParseSize(s)
	if err != nil {
		return errors.New("not a size; write it like 512MiB or 2GiB")
	}
	*z = sizeValue(n)
	return nil
}
func (z *sizeValue) String() string { return units.FormatSize(int64(*z)) }
func (z *sizeValue) Type() string   { return "size" }

type stringValue struct {
	s       string
	choices []string
}

func (v *stringValue) Set(s string) error {
	if len(v.choices) > 0 && !contains(v.choices, s) {
		return fmt.Errorf("use %s", orList(v.choices))
	}
	v.s = s
	return nil
}
func (v *stringValue) String() string { return v.s }
func (v *stringValue) Type() string   { return "string" }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
