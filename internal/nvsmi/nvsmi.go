// Package nvsmi reads what nvidia-smi reports of the host's GPUs: each
// GPU's index, model, UUID, PCI address, utilisation and memory, and the
// MIG devices a GPU is split into. The gateway runs nvidia-smi only where
// it is installed; a host without the driver reports no GPUs.
package nvsmi

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// QueryArgs are the arguments of the query ParseQuery reads.
var QueryArgs = []string{"--query-gpu=index,name,uuid,pci.bus_id,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"}

// GPU is one GPU.
type GPU struct {
	Index    int
	Name     string
	UUID     string
	PCI      string  // lower case, four-digit domain, as LXD writes it: "0000:07:00.0"
	Util     float64 // percent; -1 when not reported (a GPU split into MIG devices)
	MemUsed  int64   // bytes
	MemTotal int64   // bytes
	MIG      []MIG   // its MIG devices, from ParseList
}

// MIG is one MIG device of a GPU.
type MIG struct {
	Profile string // "1g.18gb"
	Device  int
	UUID    string // "MIG-..."
}

// Slices is how many compute slices a profile takes ("3g.71gb": 3).
func (m MIG) Slices() int {
	n, _ := strconv.Atoi(strings.SplitN(m.Profile, "g", 2)[0])
	return max(n, 1)
}

// ErrNoDriver is nvidia-smi's answer on a host without a working driver.
var ErrNoDriver = errors.New("nvidia-smi cannot reach the NVIDIA driver")

// ParseQuery reads the lines of nvidia-smi QueryArgs.
func ParseQuery(out string) ([]GPU, error) {
	if strings.Contains(out, "NVIDIA-SMI has failed") || strings.Contains(out, "couldn't communicate with the NVIDIA driver") {
		return nil, ErrNoDriver
	}
	var gs []GPU
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) != 7 {
			return nil, fmt.Errorf("nvidia-smi: unexpected line %q", line)
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi: unexpected index in %q", line)
		}
		g := GPU{Index: idx, Name: f[1], UUID: f[2], PCI: PCI(f[3]), Util: number(f[4], -1),
			MemUsed: int64(number(f[5], 0)) << 20, MemTotal: int64(number(f[6], 0)) << 20}
		gs = append(gs, g)
	}
	return gs, nil
}

// number reads a field; "[N/A]" and the like are def.
func number(s string, def float64) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return def
	}
	return v
}

// PCI turns nvidia-smi's "00000000:0F:00.0" into LXD's "0000:0f:00.0".
func PCI(bus string) string {
	bus = strings.ToLower(strings.TrimSpace(bus))
	if dom, rest, ok := strings.Cut(bus, ":"); ok && len(dom) == 8 {
		bus = dom[4:] + ":" + rest
	}
	return bus
}

var (
	gpuLine = regexp.MustCompile(`^GPU (\d+): (.+) \(UUID: (GPU-[0-9a-fA-F-]+)\)$`)
	migLine = regexp.MustCompile(`^MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[0-9a-fA-F-]+)\)$`)
)

// ParseList reads nvidia-smi -L: the GPUs and, under each, its MIG devices.
func ParseList(out string) ([]GPU, error) {
	var gs []GPU
	for _, raw := range strings.Split(out, "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "":
		case gpuLine.MatchString(line):
			m := gpuLine.FindStringSubmatch(line)
			idx, _ := strconv.Atoi(m[1])
			gs = append(gs, GPU{Index: idx, Name: m[2], UUID: m[3], Util: -1})
		case migLine.MatchString(line):
			if len(gs) == 0 {
				return nil, fmt.Errorf("nvidia-smi -L: a MIG device before any GPU: %q", line)
			}
			m := migLine.FindStringSubmatch(line)
			dev, _ := strconv.Atoi(m[2])
			gs[len(gs)-1].MIG = append(gs[len(gs)-1].MIG, MIG{Profile: m[1], Device: dev, UUID: m[3]})
		case strings.Contains(line, "NVIDIA-SMI has failed"), strings.Contains(line, "couldn't communicate"):
			return nil, ErrNoDriver
		default:
			return nil, fmt.Errorf("nvidia-smi -L: unexpected line %q", line)
		}
	}
	return gs, nil
}

// Run runs a command and returns its standard output.
type Run func(ctx context.Context, name string, args ...string) ([]byte, error)

// Read asks nvidia-smi for the GPUs, their use and their MIG devices;
// nil, nil where nvidia-smi is not installed or finds no driver.
func Read(ctx context.Context, run Run) ([]GPU, error) {
	run = orReal(run)
	gs, err := Query(ctx, run)
	if err != nil || gs == nil {
		return gs, err
	}
	list, err := run(ctx, "nvidia-smi", "-L")
	if err != nil {
		return gs, nil // the use is known; the MIG devices are not
	}
	ls, err := ParseList(string(list))
	if err != nil {
		return gs, nil
	}
	for i := range gs {
		for _, l := range ls {
			if l.UUID == gs[i].UUID {
				gs[i].MIG = l.MIG
			}
		}
	}
	return gs, nil
}

// Query asks nvidia-smi for the GPUs and their use only (the sweep's,
// every pass); nil, nil where it is not installed or finds no driver.
func Query(ctx context.Context, run Run) ([]GPU, error) {
	run = orReal(run)
	if run == nil {
		return nil, nil
	}
	out, err := run(ctx, "nvidia-smi", QueryArgs...)
	gs, perr := ParseQuery(string(out))
	if errors.Is(perr, ErrNoDriver) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nvidia-smi: %w", err)
	}
	return gs, perr
}

// orReal is run, or the real nvidia-smi where it is installed (nil where
// it is not).
func orReal(run Run) Run {
	if run == nil {
		if _, err := exec.LookPath("nvidia-smi"); err != nil {
			return nil
		}
		run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
			out, err := exec.CommandContext(ctx, name, args...).Output()
			if ee, ok := err.(*exec.ExitError); ok && len(out) == 0 {
				out = ee.Stderr
			}
			return out, err
		}
	}
	return run
}
