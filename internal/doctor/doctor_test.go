package doctor

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestReportJSONShapeAndExitCode(t *testing.T) {
	r := Report{Checks: []Check{{Name: "lxd", Status: OK, Detail: "5.0.2"}, {Name: "pool", Status: Warn, Detail: "dir"}}}
	if r.Failures() != 0 {
		t.Fatalf("failures = %d, want 0", r.Failures())
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	want := `{"checks":[{"name":"lxd","status":"ok","detail":"5.0.2"},{"name":"pool","status":"warn","detail":"dir"}]}` + "\n"
	if b.String() != want {
		t.Fatalf("json = %q, want %q", b.String(), want)
	}
	var m map[string][]map[string]string
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || len(m) != 1 {
		t.Fatalf("shape: %v %v", m, err)
	}
	r.Checks = append(r.Checks, Check{Name: "perm", Status: Fail, Detail: "chmod 0700"})
	if r.Failures() != 1 {
		t.Fatalf("failures = %d, want 1", r.Failures())
	}
	b.Reset()
	_ = Report{}.WriteJSON(&b)
	if b.String() != `{"checks":[]}`+"\n" {
		t.Fatalf("empty = %q", b.String())
	}
}
