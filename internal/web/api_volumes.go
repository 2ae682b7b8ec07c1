package web

import (
	"fmt"
	"net/http"

	"github.com/lxcgate/lxcgate/internal/containers"
)

func (s *Server) volumeRoutes(api func(string, handler)) {
	api("GET /api/v1/volumes", s.apiVolumes)
	api("POST /api/v1/volumes", s.apiVolumeCreate)
	api("GET /api/v1/volumes/{name}", s.apiVolumeGet)
	api("DELETE /api/v1/volumes/{name}", s.apiVolumeDelete)
	api("POST /api/v1/volumes/{name}/{verb}", s.apiVolumeAct)
	api("GET /api/v1/datasets", s.apiDatasets)
}

// volumeName is the volume named in the path. A name no volume can have
// is "no such volume", whoever asks.
func volumeName(r *http.Request) (string, error) {
	n := r.PathValue("name")
	if containers.ValidVolumeName(n) != nil {
		return "", fmt.Errorf("%w: no such volume %q", containers.ErrNoVolume, n)
	}
	return n, nil
}

func (s *Server) apiVolumes(w http.ResponseWriter, r *http.Request, c caller) string {
	list, err := s.o.Service.ListVolumes(r.Context(), c.user.Name)
	if err != nil {
		return s.fail(w, fmt.Errorf("volumes: %w", err))
	}
	for i := range list {
		list[i].Created = list[i].Created.UTC()
	}
	writeJSON(w, http.StatusOK, list)
	return ""
}

// volumeBody is POST /api/v1/volumes.
type volumeBody struct {
	Name string `json:"name"`
	Size size   `json:"size"` // left out: the gateway's default
	Host string `json:"host"` // in a cluster, the member; left out: the gateway chooses
}

func (s *Server) apiVolumeCreate(w http.ResponseWriter, r *http.Request, c caller) string {
	var b volumeBody
	if status, err := decode(w, r, &b); err != nil {
		writeError(w, status, err.Error())
		return err.Error()
	}
	v, err := s.o.Service.CreateVolumeOn(r.Context(), c.user.Name, b.Name, b.Host, int64(b.Size))
	if err != nil {
		return s.fail(w, err)
	}
	v.Created = v.Created.UTC()
	w.Header().Set("Location", "/api/v1/volumes/"+v.Name)
	writeJSON(w, http.StatusCreated, v)
	return "created volume " + v.Name
}

func (s *Server) apiVolumeGet(w http.ResponseWriter, r *http.Request, c caller) string {
	n, err := volumeName(r)
	if err != nil {
		return s.fail(w, err)
	}
	v, err := s.o.Service.GetVolume(r.Context(), c.user.Name, n)
	if err != nil {
		return s.fail(w, err)
	}
	v.Created = v.Created.UTC()
	writeJSON(w, http.StatusOK, v)
	return ""
}

func (s *Server) apiVolumeDelete(w http.ResponseWriter, r *http.Request, c caller) string {
	n, err := volumeName(r)
	if err != nil {
		return s.fail(w, err)
	}
	if err := s.o.Service.DeleteVolume(r.Context(), c.user.Name, n); err != nil {
		return s.fail(w, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return "deleted volume " + n
}

// attachBody is POST .../attach and .../detach.
type attachBody struct {
	Container string `json:"container"`
	Path      string `json:"path"`     // attach: "" is /mnt/NAME
	ReadOnly  bool   `json:"readonly"` // attach
}

func (s *Server) apiVolumeAct(w http.ResponseWriter, r *http.Request, c caller) string {
	n, err := volumeName(r)
	if err != nil {
		return s.fail(w, err)
	}
	var b attachBody
	if status, err := decode(w, r, &b); err != nil {
		writeError(w, status, err.Error())
		return err.Error()
	}
	if containers.ValidName(b.Container) != nil {
		return s.fail(w, fmt.Errorf("%w: no such container %q", containers.ErrNoSuch, b.Container))
	}
	ctx, user, verb := r.Context(), c.user.Name, r.PathValue("verb")
	switch verb {
	case "attach":
		_, err = s.o.Service.AttachVolume(ctx, user, n, b.Container, b.Path, b.ReadOnly)
	case "detach":
		err = s.o.Service.DetachVolume(ctx, user, n, b.Container)
	default:
		writeError(w, http.StatusNotFound, "no such action; use attach or detach")
		return "no such action"
	}
	if err != nil {
		return s.fail(w, err)
	}
	v, err := s.o.Service.GetVolume(ctx, user, n)
	if err != nil {
		return s.fail(w, err)
	}
	v.Created = v.Created.UTC()
	writeJSON(w, http.StatusOK, v)
	return fmt.Sprintf("%s volume %s, container %s", verb, n, b.Container)
}

func (s *Server) apiDatasets(w http.ResponseWriter, r *http.Request, c caller) string {
	writeJSON(w, http.StatusOK, s.o.Service.Datasets(c.user.Name))
	return ""
}
