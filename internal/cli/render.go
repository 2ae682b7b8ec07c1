package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Render writes v as JSON (indented), YAML or CSV. YAML and CSV are made
// from v's JSON, so that every format has the same keys in the same order.
// Times should be in UTC before they get here (see UTC); JSON writes them
// in RFC 3339.
func Render(w io.Writer, format string, v any) error {
	data, err := marshal(v)
	if err != nil {
		return err
	}
	switch format {
	case FormatJSON:
		var b bytes.Buffer
		if err := json.Indent(&b, data, "", "  "); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	case FormatYAML:
		n, err := decodeOrdered(data)
		if err != nil {
			return err
		}
		var b strings.Builder
		writeYAML(&b, n, 0)
		_, err = io.WriteString(w, b.String())
		return err
	case FormatCSV:
		return writeCSV(w, v, data)
	}
	return fmt.Errorf("unknown format %q", format)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}

// TimeFormat is how tables write times: always UTC.
const TimeFormat = "2006-01-02 15:04:05 UTC"

// TableTime writes t for a table: in UTC, "-" when zero.
func TableTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(TimeFormat)
}

// node is a JSON value with its object keys in order.
type node struct {
	scalar any // json.Number, string, bool or nil, when neither of below
	keys   []string
	vals   []*node
	items  []*node
	kind   byte // 's' scalar, 'o' object, 'a' array
}

func decodeOrdered(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return decodeNode(dec)
}

func decodeNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		n := &node{kind: 'o'}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeNode(dec)
			if err != nil {
				return nil, err
			}
			n.keys, n.vals = append(n.keys, k.(string)), append(n.vals, v)
		}
		_, err = dec.Token()
		return n, err
	case json.Delim('['):
		n := &node{kind: 'a'}
		for dec.More() {
			v, err := decodeNode(dec)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		_, err = dec.Token()
		return n, err
	}
	return &node{kind: 's', scalar: tok}, nil
}

// writeYAML writes n in YAML's block style, indented by indent spaces.
func writeYAML(b *strings.Builder, n *node, indent int) {
	pad := strings.Repeat(" ", indent)
	switch {
	case n.kind == 'o' && len(n.keys) == 0:
		b.WriteString(pad + "{}\n")
	case n.kind == 'a' && len(n.items) == 0:
		b.WriteString(pad + "[]\n")
	case n.kind == 'o':
		for i, k := range n.keys {
			v := n.vals[i]
			if inline(v) {
				fmt.Fprintf(b, "%s%s: %s\n", pad, yamlScalar(k), yamlValue(v))
				continue
			}
			fmt.Fprintf(b, "%s%s:\n", pad, yamlScalar(k))
			writeYAML(b, v, indent+2)
		}
	case n.kind == 'a':
		for _, it := range n.items {
			if inline(it) {
				fmt.Fprintf(b, "%s- %s\n", pad, yamlValue(it))
				continue
			}
			var sub strings.Builder
			writeYAML(&sub, it, indent+2)
			// The item's first line goes after the dash.
			b.WriteString(pad + "- " + strings.TrimPrefix(sub.String(), pad+"  "))
		}
	default:
		b.WriteString(pad + yamlValue(n) + "\n")
	}
}

// inline reports whether n fits after "key: " on one line.
func inline(n *node) bool {
	return n.kind == 's' || (n.kind == 'o' && len(n.keys) == 0) || (n.kind == 'a' && len(n.items) == 0)
}

func yamlValue(n *node) string {
	switch {
	case n.kind == 'o':
		return "{}"
	case n.kind == 'a':
		return "[]"
	}
	switch v := n.scalar.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprint(v)
	case json.Number:
		return v.String()
	case string:
		return yamlScalar(v)
	}
	return fmt.Sprint(n.scalar)
}

var (
	plainYAML = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./@+ -]*$`)
	yamlWords = regexp.MustCompile(`(?i)^(y|n|yes|no|on|off|true|false|null)$`)
)

// yamlScalar writes s plain when YAML reads it back as that string, else
// double-quoted (a JSON string is a valid YAML double-quoted scalar).
func yamlScalar(s string) string {
	if plainYAML.MatchString(s) && !yamlWords.MatchString(s) && !strings.HasSuffix(s, " ") {
		return s
	}
	q, _ := marshal(s)
	return string(q)
}

// writeCSV writes a list of objects as a header and one row each, an
// object as a header and one row. Nested objects become dotted columns,
// lists their JSON.
func writeCSV(w io.Writer, v any, data []byte) error {
	n, err := decodeOrdered(data)
	if err != nil {
		return err
	}
	rows := []*node{n}
	if n.kind == 'a' {
		rows = n.items
	}
	var header []string
	records := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		rec := map[string]string{}
		flatten(r, "", rec, &header)
		records = append(records, rec)
	}
	if len(rows) == 0 {
		flatten(zeroElem(v), "", map[string]string{}, &header) // the header still comes from the type
	}
	cw := csv.NewWriter(w)
	cw.Write(header)
	for _, rec := range records {
		line := make([]string, len(header))
		for i, h := range header {
			line[i] = rec[h]
		}
		cw.Write(line)
	}
	cw.Flush()
	return cw.Error()
}

// zeroElem is the JSON of a zero element of the slice v, for the header of
// an empty list.
func zeroElem(v any) *node {
	t := reflect.TypeOf(v)
	if t == nil || (t.Kind() != reflect.Slice && t.Kind() != reflect.Array) {
		return &node{kind: 'o'}
	}
	data, err := marshal(reflect.New(t.Elem()).Elem().Interface())
	if err != nil {
		return &node{kind: 'o'}
	}
	n, err := decodeOrdered(data)
	if err != nil || n.kind != 'o' {
		return &node{kind: 's', scalar: ""}
	}
	return n
}

func flatten(n *node, prefix string, rec map[string]string, header *[]string) {
	if n.kind == 'o' && (len(n.keys) > 0 || prefix == "") {
		for i, k := range n.keys {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(n.vals[i], key, rec, header)
		}
		return
	}
	key := prefix
	if key == "" {
		key = "value"
	}
	if _, ok := rec[key]; !ok && !slices.Contains(*header, key) {
		*header = append(*header, key)
	}
	rec[key] = csvCell(n)
}

func csvCell(n *node) string {
	if n.kind != 's' {
		return compactJSON(n)
	}
	switch v := n.scalar.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(n.scalar)
}

// compactJSON writes a nested value back as one line of JSON.
func compactJSON(n *node) string {
	var b strings.Builder
	switch n.kind {
	case 'o':
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := marshal(k)
			b.Write(q)
			b.WriteByte(':')
			b.WriteString(compactJSON(n.vals[i]))
		}
		b.WriteByte('}')
	case 'a':
		b.WriteByte('[')
		for i, it := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(compactJSON(it))
		}
		b.WriteByte(']')
	default:
		q, _ := marshal(n.scalar)
		b.Write(q)
	}
	return b.String()
}
