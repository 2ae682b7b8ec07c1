package ref

import "testing"

func TestRoundTrip(t *testing.T) {
	r := Ref{Owner: "alice", Name: "dev"}
	if got, ok := Parse(r.String()); !ok || got != r {
		t.Fatalf("Parse(%q) = %+v, %v", r.String(), got, ok)
	}
	for _, bad := range []string{"", "alice", "/dev", "alice/", "/"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
