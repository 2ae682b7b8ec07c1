// Package doctor runs preflight checks of the host lxcgate runs on and
// reports each as ok, warn or fail with a one-line detail naming the fix.
package doctor

import (
	"encoding/json"
	"io"
)

// Status is the outcome of one check.
type Status string

// The statuses a check can end in.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one preflight check's result.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// Report is the result of all checks, in the order they ran.
type Report struct {
	Checks []Check `json:"checks"`
}

// Failures counts the checks that failed.
func (r Report) Failures() int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == Fail {
			n++
		}
	}
	return n
}

// WriteJSON writes {"checks":[...]} followed by a newline.
func (r Report) WriteJSON(w io.Writer) error {
	if r.Checks == nil {
		r.Checks = []Check{}
	}
	return json.NewEncoder(w).Encode(r)
}
