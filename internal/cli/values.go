package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lxcgate/lxcgate/internal/units"
)

// The flag values DefineFlags defines: pflag.Value with lxcgate's parsing
// (sizes with units, strings from a fixed list) and its error words.

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
	if len(v.choices) > 0 && !slices.Contains(v.choices, s) {
		return fmt.Errorf("use %s", OrList(v.choices))
	}
	v.s = s
	return nil
}
func (v *stringValue) String() string { return v.s }
func (v *stringValue) Type() string   { return "string" }

// listValue gathers every use of a repeatable flag.
type listValue struct{ s []string }

func (v *listValue) Set(s string) error { v.s = append(v.s, s); return nil }
func (v *listValue) String() string     { return strings.Join(v.s, ",") }
func (v *listValue) Type() string       { return "list" }

// OrList writes "a, b or c".
func OrList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
