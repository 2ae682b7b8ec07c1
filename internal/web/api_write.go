package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/units"
)

// size is a byte count in a request: a number, or a string such as "4GiB"
// as the shell's flags take it. Given, it is positive; left out (or null),
// the default applies.
type size int64

func (z *size) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		return z.set(n)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a size is a number of bytes or a string such as \"4GiB\"")
	}
	v, err := units.ParseSize(s)
	if err != nil {
		return err
	}
	return z.set(v)
}

func (z *size) set(n int64) error {
	if n <= 0 {
		return fmt.Errorf("a size must be positive; leave it out for the default")
	}
	*z = size(n)
	return nil
}

// createBody is POST /api/v1/containers: create's and launch's flags.
type createBody struct {
	Name   string `json:"name"`
	Image  string `json:"image"`
	CPU    *int   `json:"cpu"` // nil: the default
	Memory size   `json:"memory"`
	Disk   size   `json:"disk"`
	GPU    string `json:"gpu"`
	GPUs   int    `json:"gpus"` // any this many, whichever are free
	Host   string `json:"host"`
	Start  bool   `json:"start"` // launch: create and start
	Lease  string `json:"lease"` // "12h", "7d"; "": the default
	// Wait, with start, answers once the container has its address (at
	// most containers.DefaultLaunchWait), as the shell's launch does.
	Wait bool `json:"wait"`
	// Queue, when the GPUs are not free, puts the launch in the queue:
	// 202 and the queue entry.
	Queue bool `json:"queue"`
	// Volumes and Datasets are attached from the start: [{"name":
	// "data", "path": "/work", "readonly": false}], ["imagenet"].
	Volumes  []containers.VolumeMount `json:"volumes"`
	Datasets []string                 `json:"datasets"`
}

func (s *Server) apiCreate(w http.ResponseWriter, r *http.Request, c caller) string {
	var b createBody
	if status, err := decode(w, r, &b); err != nil {
		writeError(w, status, err.Error())
		return err.Error()
	}
	cpu := 0
	if b.CPU != nil {
		if *b.CPU <= 0 {
			return s.fail(w, badRequest("cpu must be a positive number; leave it out for the default"))
		}
		cpu = *b.CPU
	}
	lease, err := containers.ParseLease(b.Lease)
	if err != nil {
		return s.fail(w, badRequest("%v", err))
	}
	req := containers.CreateRequest{Name: b.Name, Image: b.Image, CPU: cpu,
		Memory: int64(b.Memory), Disk: int64(b.Disk), GPU: b.GPU, GPUs: b.GPUs, Host: b.Host, Start: b.Start, Lease: lease,
		Volumes: b.Volumes, Datasets: b.Datasets}
	var ct containers.Container
	if b.Queue {
		req.Start = true // a queued launch starts when its GPUs free up
		var q containers.QueuedLaunch
		ct, q, err = s.o.Service.LaunchOrQueue(r.Context(), c.user.Name, req)
		if errors.Is(err, containers.ErrQueued) {
			writeJSON(w, http.StatusAccepted, q)
			return fmt.Sprintf("queued %s for %d GPUs, %s in line", b.Name, q.GPUs, containers.Ordinal(q.Position))
		}
	} else {
		ct, err = s.o.Service.Create(r.Context(), c.user.Name, req)
	}
	if err != nil {
		return s.fail(w, err)
	}
	if b.Start && b.Wait {
		ct = s.waitAddress(r.Context(), c.user.Name, ct)
	}
	w.Header().Set("Location", "/api/v1/containers/"+ct.Name)
	writeJSON(w, http.StatusCreated, ct.InUTC())
	note := "created " + ct.Name
	if ct.Host != "" {
		note += fmt.Sprintf(", placed on %s: %s", ct.Host, ct.Placement)
	}
	return note
}

// waitAddress waits, as launch does, until ct has its address; without
// one in time the answer shows it as it is.
func (s *Server) waitAddress(ctx context.Context, user string, ct containers.Container) containers.Container {
	ctx, cancel := context.WithTimeout(ctx, containers.DefaultLaunchWait)
	defer cancel()
	got, err := s.o.Service.WaitAddress(ctx, user, ct.Name)
	if err != nil {
		return ct
	}
	got.Placement = ct.Placement // known only to the create
	return got
}

// actBody holds every verb's options; each verb reads its own.
type actBody struct {
	Force    bool   `json:"force"`    // stop
	Name     string `json:"name"`     // snapshot: its name (default: the time)
	Keep     bool   `json:"keep"`     // snapshot: pin it
	Snapshot string `json:"snapshot"` // restore: which one
}

// snapshotTaken is the answer to POST .../snapshot.
type snapshotTaken struct {
	Name   string   `json:"name"`
	Pruned []string `json:"pruned"`
}

func (s *Server) apiAct(w http.ResponseWriter, r *http.Request, c caller) string {
	n, err := name(r)
	if err != nil {
		return s.fail(w, err)
	}
	var b actBody
	if status, err := decode(w, r, &b); err != nil {
		writeError(w, status, err.Error())
		return err.Error()
	}
	ctx, user, verb := r.Context(), c.user.Name, r.PathValue("verb")
	switch verb {
	case "start":
		err = s.o.Service.Start(ctx, user, n)
	case "stop":
		err = s.o.Service.Stop(ctx, user, n, b.Force)
	case "restart":
		err = s.o.Service.Restart(ctx, user, n)
	case "restore":
		if b.Snapshot == "" {
			return s.fail(w, badRequest("restore needs {\"snapshot\": NAME}"))
		}
		err = s.o.Service.Restore(ctx, user, n, b.Snapshot)
	case "snapshot":
		snap, pruned, err := s.o.Service.TakeSnapshot(ctx, user, n, b.Name, b.Keep)
		if err != nil {
			return s.fail(w, err)
		}
		if pruned == nil {
			pruned = []string{}
		}
		writeJSON(w, http.StatusCreated, snapshotTaken{snap, pruned})
		return fmt.Sprintf("snapshot %s of %s", snap, n)
	default:
		writeError(w, http.StatusNotFound, "no such action; use start, stop, restart, snapshot or restore")
		return "no such action"
	}
	if err != nil {
		return s.fail(w, err)
	}
	ct, err := s.o.Service.Get(ctx, user, n)
	if err != nil {
		return s.fail(w, err)
	}
	writeJSON(w, http.StatusOK, ct.InUTC())
	return verb + " " + n
}
