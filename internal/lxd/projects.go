package lxd

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/canonical/lxd/shared/api"
)

// Limits are a project's LXD limits; zero means none.
type Limits struct {
	Instances int
	CPU       int
	Memory    int64
	Disk      int64
}

// EnsureProject creates the project if missing (sharing the default
// project's images, profiles and storage volumes) and sets its limits.
func (c *Client) EnsureProject(ctx context.Context, name string, l Limits) error {
	defer c.timed("project")()
	srv, err := c.server()
	if err != nil {
		return err
	}
	cfg := map[string]string{
		"features.images": "false", "features.profiles": "false", "features.storage.volumes": "false",
	}
	setLimit := func(k string, v int64, format func(int64) string) {
		if v > 0 {
			cfg[k] = format(v)
		} else {
			cfg[k] = ""
		}
	}
	setLimit("limits.instances", int64(l.Instances), itoa)
	setLimit("limits.cpu", int64(l.CPU), itoa)
	setLimit("limits.memory", l.Memory, bytesStr)
	setLimit("limits.disk", l.Disk, bytesStr)
	p, etag, err := srv.GetProject(name)
	if err != nil && api.StatusErrorCheck(err, http.StatusNotFound) {
		for k, v := range cfg {
			if v == "" {
				delete(cfg, k)
			}
		}
		err = srv.CreateProject(api.ProjectsPost{Name: name, ProjectPut: api.ProjectPut{
			Description: "lxcgate containers of one user", Config: cfg}})
		if err != nil && strings.Contains(err.Error(), "already exists") {
			return c.EnsureProject(ctx, name, l) // created meanwhile by another session
		}
		return c.check("create project "+name, err)
	}
	if err != nil {
		return c.check("get project "+name, err)
	}
	changed := false
	for k, v := range cfg {
		if p.Config[k] != v {
			changed = true
			if v == "" {
				delete(p.Config, k)
			} else {
				p.Config[k] = v
			}
		}
	}
	if !changed {
		return nil
	}
	return c.check("update project "+name, srv.UpdateProject(name, p.Writable(), etag))
}

func itoa(n int64) string     { return strconv.FormatInt(n, 10) }
func bytesStr(n int64) string { return strconv.FormatInt(n, 10) + "B" }
