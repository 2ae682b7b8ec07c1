package lxd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
// a FIFO or a file of gigabytes. LXD's file API cannot be trusted with a
// FIFO: its HEAD calls one a "file", and a GET or a write blocks LXD's file
// worker for good (LXD 5.0.2: the container can then not even be stopped,
// and after a forced delete the worker spins at 100% CPU). So lxcgate never
// opens a tenant's existing file through it: it checks the type with a HEAD
// (which does not open the file), reads through `cat` in the container (a
// process it can kill at a deadline, with its output capped), and writes a
// new file of a random name that it then renames over the old one (rename
// never opens its target). Every call has a deadline.
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
	defer c.timed("read-file")()
	typ, err := c.fileType(ctx, project, name, path)
	if err != nil {
		return nil, err
	}
	if typ != "file" {
		return nil, fmt.Errorf("%s %w (it is a %s)", path, ErrNotRegular, typ)
	}
	code, out, stderr, err := c.run(ctx, project, name, []string{"cat", path}, nil, MaxFileSize, fileTimeout)
	if errors.Is(err, ErrTimeout) {
		return nil, fmt.Errorf("%s %w", path, ErrFileStuck)
	}
	if err != nil {
		return nil, err
	}
	b, cut := out.Bytes()
	if cut {
		return nil, fmt.Errorf("%s %w", path, ErrTooLarge)
	}
	if code != 0 {
		return nil, fmt.Errorf("reading %s in %s failed (cat: status %d, %s)", path, name, code, stderr)
	}
	return b, nil
}

// WriteFile writes (replaces) a regular file in a container with owner and
// mode: a new file beside it, renamed over it. An existing path of another
// type is refused.
func (c *Client) WriteFile(ctx context.Context, project, name, path string, data []byte, uid, gid int64, mode int) error {
	defer c.timed("write-file")()
	typ, err := c.fileType(ctx, project, name, path)
	if err != nil && !errors.Is(err, ErrNoFile) {
		return err
	}
	if err == nil && typ != "file" {
		return fmt.Errorf("%s %w (it is a %s)", path, ErrNotRegular, typ)
	}
	tmp := path + ".lxcgate-" + randomHex()
	if err := c.create(ctx, project, name, tmp, bytes.NewReader(data), "file", uid, gid, mode); err != nil {
		return err
	}
	code, _, stderr, err := c.run(ctx, project, name, []string{"mv", "-f", tmp, path}, nil, 0, fileTimeout)
	if err == nil && code != 0 {
		err = fmt.Errorf("replacing %s in %s failed (mv: status %d, %s)", path, name, code, stderr)
	}
	if err != nil {
		c.remove(context.WithoutCancel(ctx), project, name, tmp)
		return err
	}
	return nil
}

// remove deletes a file the gateway made (a temporary one).
func (c *Client) remove(ctx context.Context, project, name, path string) {
	resp, done, err := c.fileCall(ctx, http.MethodDelete, project, name, path, nil, nil)
	if err != nil {
		c.log.Warn("could not remove a temporary file", "project", project, "name", name, "path", path, "err", err)
		return
	}
	resp.Body.Close()
	done()
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Mkdir creates a directory in a container; an existing one is fine, an
// existing path of another type is refused.
func (c *Client) Mkdir(ctx context.Context, project, name, path string, uid, gid int64, mode int) error {
	defer c.timed("mkdir")()
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
