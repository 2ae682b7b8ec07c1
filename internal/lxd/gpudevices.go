package lxd

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// GPUProfileDevice is the GPU profile's one device: every GPU of the host.
const GPUProfileDevice = "gpu"

// AllGPUs is how Instance.GPUDevices names a GPU device that names no
// GPU (the GPU profile's): it passes every GPU of the host.
const AllGPUs = "all"

// GPUWant is the GPU devices an instance is to carry, as lxcgate's books
// say. Every other GPU device goes, whether the instance's own, one a copy
// inherited from its source, or one a restore brought back from a
// snapshot: LXD keeps each of those unless told otherwise.
type GPUWant struct {
	Profile string // the GPU profile's name
	All     bool   // carry the GPU profile
	// Devices are the GPUs picked one by one: device name -> id or PCI
	// address (AllGPUs for a device naming no GPU).
	Devices map[string]string
}

// SameGPU reports whether two ways of writing a GPU's id or PCI address
// name the same GPU ("01:00.0" is "0000:01:00.0").
func SameGPU(a, b string) bool { return normGPU(a) == normGPU(b) }

func normGPU(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if strings.HasPrefix(s, "mig-") {
		s, _, _ = strings.Cut(s, "@") // a MIG device is its UUID
		return s
	}
	if strings.Count(s, ":") == 1 {
		s = "0000:" + s
	}
	return s
}

// GPUOf is the GPU a device names: its id, its PCI address, or AllGPUs.
func GPUOf(d map[string]string) string {
	switch {
	case d["gputype"] == "mig":
		return MIGDeviceID(d["mig.uuid"], d["pci"])
	case d["id"] != "":
		return d["id"]
	case d["pci"] != "":
		return d["pci"]
	}
	return AllGPUs
}

// GPUDevice is the device config passing one GPU (by id or PCI address).
func GPUDevice(id string) map[string]string {
	if uuid, parent, ok := strings.Cut(id, "@"); ok && strings.HasPrefix(strings.ToUpper(uuid), "MIG-") {
		d := map[string]string{"type": "gpu", "gputype": "mig", "mig.uuid": uuid}
		if parent != "" {
			d["pci"] = parent
		}
		return d
	}
	d := map[string]string{"type": "gpu", "gputype": "physical"}
	switch {
	case id == AllGPUs:
	case strings.Contains(id, ":"):
		d["pci"] = id
	default:
		d["id"] = id
	}
	return d
}

// RewriteGPUs returns an instance's profiles and own devices changed so
// that its GPU devices are exactly w's, and whether anything changed;
// expanded are its devices with its profiles' applied. An unwanted own
// device is removed, the GPU profile detached, and a GPU device of another
// profile masked by an own device of type "none" (LXD's way). The inputs
// are not changed.
func RewriteGPUs(profiles []string, own, expanded map[string]map[string]string, w GPUWant) ([]string, map[string]map[string]string, bool) {
	outProf, outOwn := slices.Clone(profiles), maps.Clone(own)
	if outOwn == nil {
		outOwn = map[string]map[string]string{}
	}
	changed := false
	hadProf := w.Profile != "" && slices.Contains(profiles, w.Profile)
	switch {
	case w.All && !hadProf && w.Profile != "":
		outProf, changed = append(outProf, w.Profile), true
	case !w.All && hadProf:
		outProf, changed = slices.DeleteFunc(outProf, func(p string) bool { return p == w.Profile }), true
	}
	if m, ok := own[GPUProfileDevice]; ok && w.All && m["type"] == "none" {
		delete(outOwn, GPUProfileDevice) // a mask that would hide the profile's device
		changed = true
	}
	for name, d := range expanded {
		if d["type"] != "gpu" {
			continue
		}
		if id, ok := w.Devices[name]; ok && SameGPU(GPUOf(d), id) {
			continue
		}
		if _, isOwn := own[name]; isOwn {
			delete(outOwn, name)
			changed = true
			continue
		}
		if name == GPUProfileDevice && hadProf {
			continue // the GPU profile's: kept, or gone with the profile
		}
		outOwn[name] = map[string]string{"type": "none"}
		changed = true
	}
	for name, id := range w.Devices {
		if d, ok := expanded[name]; ok && d["type"] == "gpu" && SameGPU(GPUOf(d), id) {
			continue
		}
		outOwn[name] = GPUDevice(id)
		changed = true
	}
	return outProf, outOwn, changed
}

// SetGPUs makes a container's GPU devices exactly w's (see RewriteGPUs)
// and reports whether it changed anything. Callers stop the container
// first where a GPU it should not have may be in use.
func (c *Client) SetGPUs(ctx context.Context, project, name string, w GPUWant) (bool, error) {
	defer c.timed("configure")()
	srv, err := c.project(project)
	if err != nil {
		return false, err
	}
	in, etag, err := srv.GetInstance(name)
	if err != nil {
		return false, c.check("configure "+name, err)
	}
	profiles, own, changed := RewriteGPUs(in.Profiles, in.Devices, in.ExpandedDevices, w)
	if !changed {
		return false, nil
	}
	put := in.Writable()
	put.Profiles, put.Devices = profiles, own
	op, err := srv.UpdateInstance(name, put, etag)
	if err != nil {
		return false, c.check("configure "+name, err)
	}
	if err := c.check("configure "+name, wait(ctx, op, nil)); err != nil {
		return false, err
	}
	return true, nil
}

// MIGDeviceID is how a device id names a MIG device: "MIG-UUID@PARENT-PCI",
// the UUID LXD's mig.uuid takes and the GPU it is of.
func MIGDeviceID(uuid, parent string) string {
	if !strings.HasPrefix(strings.ToUpper(uuid), "MIG-") {
		uuid = "MIG-" + uuid // LXD takes it with or without the prefix
	}
	return uuid + "@" + parent
}
