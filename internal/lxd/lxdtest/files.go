package lxdtest

import (
	"context"
	"fmt"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// ReadFile reads a container file.
func (f *Fake) ReadFile(_ context.Context, project, name, path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(project, name); err != nil {
		return nil, err
	}
	b, ok := f.Files[key(project, name)+":"+path]
	if !ok {
		if path == "/etc/passwd" {
			return []byte("root:x:0:0:root:/root:/bin/sh\nubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n"), nil
		}
		return nil, fmt.Errorf("%s: %w", path, lxd.ErrNoFile)
	}
	return append([]byte(nil), b...), nil
}

// WriteFile writes a container file.
func (f *Fake) WriteFile(_ context.Context, project, name, path string, data []byte, _, _ int64, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(project, name); err != nil {
		return err
	}
	if f.Files == nil {
		f.Files = map[string][]byte{}
	}
	f.Files[key(project, name)+":"+path] = append([]byte(nil), data...)
	return nil
}

// Mkdir pretends to make a directory.
func (f *Fake) Mkdir(_ context.Context, project, name, _ string, _, _ int64, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.get(project, name)
	return err
}

// Exec records a command and succeeds.
func (f *Fake) Exec(_ context.Context, project, name string, argv []string, stdin []byte) (int, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(project, name); err != nil {
		return -1, "", err
	}
	f.Execs = append(f.Execs, fmt.Sprintf("%s %v <%s", key(project, name), argv, stdin))
	return 0, "", nil
}
