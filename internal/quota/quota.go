// Package quota is a user's container limits: one type, and one table of
// its fields from which the shell's and the host's flags, the quotas
// table's columns, the configuration's keys and the printed summary are
// all made. A new limit is a field here and a row in Fields.
package quota

import (
	"errors"
	"fmt"
	"io"

	"github.com/lxcgate/lxcgate/internal/units"
)

// Quota is a user's limits, totals over all their containers and volumes
// (disk counts both); as a use
// (what the containers take now) Ports, Snapshots and Hosts stay zero.
type Quota struct {
	Containers int   `json:"containers"`
	CPU        int   `json:"cpu"`
	Memory     int64 `json:"memory"`
	Disk       int64 `json:"disk"`
	GPUs       int   `json:"gpus"`
	Ports      int   `json:"ports"` // ports a user may add to each container
	Snapshots  int   `json:"snapshots"`
	// Volumes counts the user's volumes; their sizes count towards Disk.
	Volumes int `json:"volumes"`
	// Hosts is the cluster group the user's containers may be placed in;
	// "" is any member. Not a sum: a use leaves it empty.
	Hosts string `json:"hosts,omitempty"`
}

// Change sets the given (non-nil) fields of a quota. It is also a user's
// row of the quotas table, where nil takes the configured default.
type Change struct {
	Containers, CPU, GPUs, Ports, Snapshots, Volumes *int
	Memory, Disk                                     *int64
	Hosts                                            *string // a cluster group; "" any member
}

// Kind is what a field holds.
type Kind int

// The kinds of field.
const (
	Count Kind = iota // a number
	Size              // bytes, written like 4GiB
	Group             // a cluster group's name
)

// Field is one limit: its name is the flag, the configuration key, the
// SQL column and the JSON key alike.
type Field struct {
	Name string
	Kind Kind
	Help string // the flag's help
	// Total marks a sum over the user's containers, shown beside its
	// use; the others are shown as the limit followed by Per.
	Total bool
	Per   string

	get    func(Quota) int64
	set    func(*Quota, int64)
	change func(*Change) (int64, bool)
	setCh  func(*Change, int64)
}

// Fields are the limits in the flags' order. Group fields (hosts) have no
// number: Quota.Hosts and Change.Hosts hold them.
var Fields = []Field{
	count("containers", "containers at most", true, "", func(q *Quota) *int { return &q.Containers }, func(c *Change) **int { return &c.Containers }),
	count("cpu", "CPUs over all containers", true, "", func(q *Quota) *int { return &q.CPU }, func(c *Change) **int { return &c.CPU }),
	size("memory", "memory over all containers", func(q *Quota) *int64 { return &q.Memory }, func(c *Change) **int64 { return &c.Memory }),
	size("disk", "disk over all containers", func(q *Quota) *int64 { return &q.Disk }, func(c *Change) **int64 { return &c.Disk }),
	count("gpus", "GPUs over all containers", true, "", func(q *Quota) *int { return &q.GPUs }, func(c *Change) **int { return &c.GPUs }),
	count("ports", "ports a user may add to each container", false, "added per container at most",
		func(q *Quota) *int { return &q.Ports }, func(c *Change) **int { return &c.Ports }),
	count("snapshots", "snapshots over all containers", false, "at most",
		func(q *Quota) *int { return &q.Snapshots }, func(c *Change) **int { return &c.Snapshots }),
	count("volumes", "volumes at most (their sizes count towards disk)", true, "",
		func(q *Quota) *int { return &q.Volumes }, func(c *Change) **int { return &c.Volumes }),
	{Name: "hosts", Kind: Group, Help: "the cluster group containers go to (all: any member)"},
}

// count is a Count field held in an int.
func count(name, help string, total bool, per string, q func(*Quota) *int, c func(*Change) **int) Field {
	return Field{Name: name, Kind: Count, Help: help, Total: total, Per: per,
		get: func(x Quota) int64 { return int64(*q(&x)) }, set: func(x *Quota, v int64) { *q(x) = int(v) },
		change: func(x *Change) (int64, bool) {
			if p := *c(x); p != nil {
				return int64(*p), true
			}
			return 0, false
		},
		setCh: func(x *Change, v int64) { n := int(v); *c(x) = &n }}
}

// size is a Size field, a total held in an int64.
func size(name, help string, q func(*Quota) *int64, c func(*Change) **int64) Field {
	return Field{Name: name, Kind: Size, Help: help, Total: true,
		get: func(x Quota) int64 { return *q(&x) }, set: func(x *Quota, v int64) { *q(x) = v },
		change: func(x *Change) (int64, bool) {
			if p := *c(x); p != nil {
				return *p, true
			}
			return 0, false
		},
		setCh: func(x *Change, v int64) { *c(x) = &v }}
}

// Get is the field's value in q (0 for a Group field).
func (f Field) Get(q Quota) int64 {
	if f.get == nil {
		return 0
	}
	return f.get(q)
}

// Changed is the field's value in c, and whether c sets it (false for a
// Group field: see Change.Hosts).
func (f Field) Changed(c Change) (int64, bool) {
	if f.change == nil {
		return 0, false
	}
	return f.change(&c)
}

// Set sets the field in c (nothing for a Group field).
func (f Field) Set(c *Change, v int64) {
	if f.setCh != nil {
		f.setCh(c, v)
	}
}

// Format writes a value of the field as the summary shows it.
func (f Field) Format(v int64) string {
	if f.Kind == Size {
		return units.FormatSize(v)
	}
	return fmt.Sprint(v)
}

// ErrNegative refuses a limit below zero.
var ErrNegative = errors.New("quota values must not be negative")

// Validate refuses a change that sets a limit below zero.
func (c Change) Validate() error {
	for _, f := range Fields {
		if v, ok := f.Changed(c); ok && v < 0 {
			return ErrNegative
		}
	}
	return nil
}

// Over is q with the fields c sets replaced: a user's own limits over the
// defaults.
func (c Change) Over(q Quota) Quota {
	for _, f := range Fields {
		if v, ok := f.Changed(c); ok {
			f.set(&q, v)
		}
	}
	if c.Hosts != nil {
		q.Hosts = *c.Hosts
	}
	return q
}

// printed is the summary's order, which is older than the flags'.
var printed = []string{"containers", "cpu", "memory", "disk", "gpus", "snapshots", "ports", "volumes"}

// ByName is the field named name; ok is false when there is none.
func ByName(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Print writes a user's quota beside their use.
func Print(w io.Writer, user string, q, use Quota) error {
	fmt.Fprintf(w, "quota of %s (in use / limit):\n", user)
	var err error
	for _, name := range printed {
		f, _ := ByName(name)
		text := f.Format(f.Get(q)) + " " + f.Per
		if f.Total {
			text = f.Format(f.Get(use)) + " / " + f.Format(f.Get(q))
		}
		_, err = fmt.Fprintf(w, "  %-12s%s\n", f.Name, text)
	}
	if q.Hosts != "" {
		_, err = fmt.Fprintf(w, "  %-12scluster group %s\n", "hosts", q.Hosts)
	}
	return err
}
