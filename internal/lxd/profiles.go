package lxd

import (
	"context"
	"net/http"

	"github.com/canonical/lxd/shared/api"
)

// GPUProfile is the state the GPU profile must have.
type GPUProfile struct {
	Name               string
	NvidiaRuntime      bool
	DriverCapabilities string
}

// EnsureGPUProfile creates or updates the GPU profile in the default
// project to the configured state.
func (c *Client) EnsureGPUProfile(ctx context.Context, p GPUProfile) error {
	defer c.timed("gpu-profile")()
	srv, err := c.server()
	if err != nil {
		return err
	}
	want := api.ProfilePut{
		Description: "lxcgate: all host GPUs",
		Config:      map[string]string{},
		Devices:     map[string]map[string]string{GPUProfileDevice: {"type": "gpu", "gputype": "physical"}},
	}
	if p.NvidiaRuntime {
		want.Config["nvidia.runtime"] = "true"
	}
	if p.DriverCapabilities != "" {
		want.Config["nvidia.driver.capabilities"] = p.DriverCapabilities
	}
	cur, etag, err := srv.GetProfile(p.Name)
	if err != nil && api.StatusErrorCheck(err, http.StatusNotFound) {
		return c.check("create profile "+p.Name, srv.CreateProfile(api.ProfilesPost{Name: p.Name, ProfilePut: want}))
	}
	if err != nil {
		return c.check("get profile "+p.Name, err)
	}
	if sameProfile(cur.Writable(), want) {
		return nil
	}
	return c.check("update profile "+p.Name, srv.UpdateProfile(p.Name, want, etag))
}

func sameProfile(a, b api.ProfilePut) bool {
	if a.Description != b.Description || len(a.Config) != len(b.Config) || len(a.Devices) != len(b.Devices) {
		return false
	}
	for k, v := range b.Config {
		if a.Config[k] != v {
			return false
		}
	}
	for k, d := range b.Devices {
		if len(a.Devices[k]) != len(d) {
			return false
		}
		for dk, dv := range d {
			if a.Devices[k][dk] != dv {
				return false
			}
		}
	}
	return true
}
