package shell

import (
	"encoding/csv"
	"encoding/json"
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

// Every listing takes --format and --json, with the same keys in each
// format, and times in UTC.
func TestListingFormats(t *testing.T) {
	sh, _ := newContainerShell(t)
	exec(sh, alice, false, "launch dev", "")
	exec(sh, alice, false, "keys add ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl c", "")
	listings := []string{"list", "images", "snapshots dev", "ports dev", "gpus", "keys", "whoami", "quota", "details dev", "sshconfig"}
	for _, l := range listings {
		code, j, errw := exec(sh, alice, false, l+" --json", "")
		_, j2, _ := exec(sh, alice, false, l+" --format json", "")
		var v any
		if code != 0 || j != j2 || json.Unmarshal([]byte(j), &v) != nil {
			t.Errorf("%s --json: %d %q %q", l, code, j, errw)
			continue
		}
		for _, f := range []string{"yaml", "csv", "table"} {
			if code, out, errw := exec(sh, alice, false, l+" --format "+f, ""); code != 0 || (out == "" && f != "table") {
				t.Errorf("%s --format %s: %d %q %q", l, f, code, out, errw)
			}
		}
		_, y, _ := exec(sh, alice, false, l+" --format yaml", "")
		if m, ok := v.(map[string]any); ok {
			for k := range m {
				if !strings.Contains(y, k+":") {
					t.Errorf("%s yaml lacks %q:\n%s", l, k, y)
				}
			}
		}
	}
	_, j, _ := exec(sh, alice, false, "details dev --json", "")
	var d struct{ Created string }
	json.Unmarshal([]byte(j), &d)
	if _, err := time.Parse(time.RFC3339, d.Created); err != nil || !strings.HasSuffix(d.Created, "Z") {
		t.Errorf("created %q is not RFC 3339 in UTC", d.Created)
	}
	if _, out, _ := exec(sh, alice, false, "details dev", ""); !strings.Contains(out, " UTC\n") {
		t.Errorf("details table time not in UTC:\n%s", out)
	}
	if _, out, _ := exec(sh, alice, false, "key dev --list --format csv", ""); !strings.HasPrefix(out, "fingerprint,type,comment,issued\n") {
		t.Errorf("key --list csv: %q", out)
	}
}
