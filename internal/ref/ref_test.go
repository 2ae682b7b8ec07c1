package ref

import "testing"

func TestString(t *testing.T) {
	if got := (Ref{Owner: "alice", Name: "dev"}).String(); got != "alice/dev" {
		t.Fatalf("String() = %q", got)
	}
	// Alike names of two owners are two containers.
	if (Ref{Owner: "alice", Name: "dev"}) == (Ref{Owner: "bob", Name: "dev"}) {
		t.Fatal("alice's dev equals bob's")
	}
}
