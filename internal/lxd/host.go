package lxd

import (
	"context"
	"net/http"
	"sort"
	"strconv"

	"github.com/canonical/lxd/shared/api"
)

// Images lists the default project's images that have an alias.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	imgs, err := srv.GetImages()
	if err != nil {
		return nil, c.check("list images", err)
	}
	var out []Image
	for _, im := range imgs {
		for _, a := range im.Aliases {
			out = append(out, Image{Alias: a.Name, Description: im.Properties["description"], Size: im.Size, Fingerprint: im.Fingerprint})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Alias < out[j].Alias })
	return out, nil
}

// GPUs lists the host's GPUs from LXD's resources API.
func (c *Client) GPUs(ctx context.Context) ([]GPU, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	res, err := srv.GetServerResources()
	if err != nil {
		return nil, c.check("resources", err)
	}
	var out []GPU
	for _, card := range res.GPU.Cards {
		g := GPU{Vendor: card.Vendor, Model: card.Product, PCI: card.PCIAddress}
		if card.DRM != nil {
			g.ID = strconv.FormatUint(card.DRM.ID, 10)
		}
		if card.Nvidia != nil {
			g.UUID = card.Nvidia.UUID
			if card.Nvidia.Model != "" {
				g.Model = card.Nvidia.Model
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// EnsureGPUProfile creates or updates the GPU profile in the default
// project to the configured state.
func (c *Client) EnsureGPUProfile(ctx context.Context, p GPUProfile) error {
	srv, err := c.server()
	if err != nil {
		return err
	}
	want := api.ProfilePut{
		Description: "lxcgate: all host GPUs",
		Config:      map[string]string{},
		Devices:     map[string]map[string]string{"gpu": {"type": "gpu", "gputype": "physical"}},
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
