package main

import (
	"reflect"
	"testing"

	"github.com/lxcgate/lxcgate/internal/config"
)

func TestChangedSections(t *testing.T) {
	old := config.Default()
	next := config.Default()
	if got := changedSections(old, next); len(got) != 0 {
		t.Fatalf("no change: %v", got)
	}
	next.Quota.Containers++
	next.Hostname = "gpu2"
	next.Data = "/elsewhere" // not a key of the file: never reported
	if got := changedSections(old, next); !reflect.DeepEqual(got, []string{"hostname", "quota"}) {
		t.Fatalf("changed: %v", got)
	}
}
