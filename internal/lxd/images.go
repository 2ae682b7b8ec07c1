package lxd

import (
	"context"
	"sort"
)

// Image is an image users may launch.
type Image struct {
	Alias       string
	Description string
	Size        int64
	Fingerprint string
}

// Images lists the default project's images that have an alias.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	defer c.timed("images")()
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
