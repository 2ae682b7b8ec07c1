package cli

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

type renderItem struct {
	Name  string            `json:"name"`
	When  time.Time         `json:"when"`
	Tags  []string          `json:"tags"`
	Inner map[string]int    `json:"inner"`
	Ports []struct{ A int } `json:"ports"`
	Note  string            `json:"note"`
}

func TestRenderFormats(t *testing.T) {
	when := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	items := []renderItem{{Name: "dev", When: when, Tags: []string{"a", "b"}, Inner: map[string]int{"x": 1},
		Ports: []struct{ A int }{{22}}, Note: "yes"}}
	var b strings.Builder
	if err := Render(&b, FormatYAML, items); err != nil {
		t.Fatal(err)
	}
	want := `- name: dev
  when: "2025-03-04T05:06:07Z"
  tags:
    - a
    - b
  inner:
    x: 1
  ports:
    - A: 22
  note: "yes"
`
	if b.String() != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := Render(&b, FormatCSV, items); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil || len(rows) != 2 || strings.Join(rows[0], ",") != "name,when,tags,inner.x,ports,note" ||
		strings.Join(rows[1], "|") != `dev|2025-03-04T05:06:07Z|["a","b"]|1|[{"A":22}]|yes` {
		t.Errorf("csv: %q %v", rows, err)
	}
	// An empty list still has its header; JSON of it is [].
	b.Reset()
	Render(&b, FormatCSV, []renderItem{})
	if b.String() != "name,when,tags,inner,ports,note\n" {
		t.Errorf("empty csv: %q", b.String())
	}
	b.Reset()
	Render(&b, FormatJSON, []renderItem{})
	if b.String() != "[]\n" {
		t.Errorf("empty json: %q", b.String())
	}
	// YAML quotes what it would otherwise read as something else.
	for in, out := range map[string]string{"": `""`, "no": `"no"`, "10.0.0.1": `"10.0.0.1"`, "a: b": `"a: b"`,
		"ssh -p 1 u@h": `ssh -p 1 u@h`, "-x": `"-x"`, "line\nbreak": `"line\nbreak"`, "#c": `"#c"`} {
		if got := yamlScalar(in); got != out {
			t.Errorf("yamlScalar(%q) = %s, want %s", in, got, out)
		}
	}
}
