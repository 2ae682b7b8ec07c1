package lxd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// A container's files belong to its tenant: /etc/passwd may be a directory,
// a FIFO that never answers or a file of gigabytes. So every file operation
// runs under a deadline (the LXD client's file calls take no context; these
// requests do, and cancelling one closes its connection), checks the type
// with a HEAD first, and bounds what it reads.
const (
	fileTimeout = 10 * time.Second
	// MaxFileSize is the most ReadFile reads: passwd and authorized_keys
	// files are far smaller.
	MaxFileSize = 1 << 20
)

// Errors of file operations, besides ErrNoFile.
var (
	ErrNotRegular = errors.New("is not a regular file")
	ErrTooLarge   = fmt.Errorf("is larger than %d KiB", MaxFileSize>>10)
	ErrFileStuck  = fmt.Errorf("did not answer within %s (a FIFO or a hung file system?)", fileTimeout)
)

// fileCall sends one request to an instance's file API under a deadline;
// the caller closes the body and calls done.
func (c *Client) fileCall(ctx context.Context, method, project, name, path string, body io.Reader, hdr http.Header) (*http.Response, func(), error) {
	srv, err := c.server()
	if err != nil {
		return nil, nil, err
	}
	info, err := srv.GetConnectionInfo()
	if err != nil {
		return nil, nil, c.check(path, err)
	}
	u := fmt.Sprintf("%s/1.0/instances/%s/files?%s", info.URL, url.PathEscape(name),
		url.Values{"path": {path}, "project": {project}}.Encode())
	fctx, cancel := context.WithTimeout(ctx, fileTimeout)
	req, err := http.NewRequestWithContext(fctx, method, u, body)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := srv.DoHTTP(req)
	if err != nil {
		cancel()
		return nil, nil, c.fileErr(ctx, fctx, path, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		cancel()
		return nil, nil, fmt.Errorf("%s: %w", path, ErrNoFile)
	}
	if resp.StatusCode/100 != 2 {
		var r struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&r)
		resp.Body.Close()
		cancel()
		return nil, nil, c.check(path, api.StatusErrorf(resp.StatusCode, "%s", r.Error))
	}
	return resp, cancel, nil
}

// fileErr says which deadline ended a file call: the caller's own (its
// error as is) or the file API's.
func (c *Client) fileErr(ctx, fctx context.Context, path string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if fctx.Err() != nil {
		c.log.Warn("container file operation timed out", "path", path)
		return fmt.Errorf("%s %w", path, ErrFileStuck)
	}
	return c.check(path, err)
}

// fileType returns what path is in the container ("file", "directory",
// "symlink"); ErrNoFile when it is missing.
func (c *Client) fileType(ctx context.Context, project, name, path string) (string, error) {
	resp, done, err := c.fileCall(ctx, http.MethodHead, project, name, path, nil, nil)
	if err != nil {
		return "", err
	}
	defer done()
	resp.Body.Close()
	return resp.Header.Get("X-Lxd-Type"), nil
}

// ReadFile reads a regular file of at most MaxFileSize from a container.
func (c *Client) ReadFile(ctx context.Context, project, name, path string) ([]byte, error) {
	typ, err := c.fileType(ctx, project, name, path)
	if err != nil {
		return nil, err
	}
	if typ != "file" {
		return nil, fmt.Errorf("%s %w (it is a %s)", path, ErrNotRegular, typ)
	}
	resp, done, err := c.fileCall(ctx, http.MethodGet, project, name, path, nil, nil)
	if err != nil {
		return nil, err
	}
	defer done()
	defer resp.Body.Close()
	if resp.ContentLength > MaxFileSize {
		return nil, fmt.Errorf("%s %w", path, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxFileSize+1))
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%s %w", path, ErrFileStuck)
	}
	if err != nil {
		return nil, c.check(path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s %w", path, ErrTooLarge)
	}
	return b, nil
}

// WriteFile writes (replaces) a regular file in a container with owner and
// mode; an existing path of another type is refused.
func (c *Client) WriteFile(ctx context.Context, project, name, path string, data []byte, uid, gid int64, mode int) error {
	typ, err := c.fileType(ctx, project, name, path)
	if err != nil && !errors.Is(err, ErrNoFile) {
		return err
	}
	if err == nil && typ != "file" {
		return fmt.Errorf("%s %w (it is a %s)", path, ErrNotRegular, typ)
	}
	return c.create(ctx, project, name, path, bytes.NewReader(data), "file", uid, gid, mode)
}

// Mkdir creates a directory in a container; an existing one is fine, an
// existing path of another type is refused.
func (c *Client) Mkdir(ctx context.Context, project, name, path string, uid, gid int64, mode int) error {
	typ, err := c.fileType(ctx, project, name, path)
	if err == nil {
		if typ != "directory" {
			return fmt.Errorf("%s is not a directory (it is a %s)", path, typ)
		}
		return nil
	}
	if !errors.Is(err, ErrNoFile) {
		return err
	}
	return c.create(ctx, project, name, path, nil, "directory", uid, gid, mode)
}

func (c *Client) create(ctx context.Context, project, name, path string, body io.Reader, typ string, uid, gid int64, mode int) error {
	hdr := http.Header{
		"X-Lxd-Type": {typ}, "X-Lxd-Uid": {strconv.FormatInt(uid, 10)}, "X-Lxd-Gid": {strconv.FormatInt(gid, 10)},
		"X-Lxd-Mode": {fmt.Sprintf("%04o", mode)}, "X-Lxd-Modify-Perm": {"uid,gid,mode"},
	}
	if typ == "file" {
		hdr.Set("X-Lxd-Write", "overwrite")
	}
	resp, done, err := c.fileCall(ctx, http.MethodPost, project, name, path, body, hdr)
	if errors.Is(err, ErrNoFile) {
		return fmt.Errorf("%s: the directory it goes in is missing: %w", path, ErrNoFile)
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	done()
	return nil
}
