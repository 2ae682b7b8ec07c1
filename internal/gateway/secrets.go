package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/users"
)

// initialPasswordFile is where the first admin's password goes when
// stderr is not a terminal (a journal must never hold it).
const initialPasswordFile = "initial-admin-password"

// showInitialPassword hands the first admin's password over once: on a
// terminal it is printed; otherwise it is written to an owner-only file in
// the data directory and only that file is named.
func showInitialPassword(stderr io.Writer, data, name, pw string) error {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "lxcgate: created admin account %q with password %s\n"+
			"lxcgate: it is shown only now; log in and run 'passwd' to change it\n", name, pw)
		return nil
	}
	file := filepath.Join(data, initialPasswordFile)
	os.Remove(file) // a stale one from an earlier database
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the first admin's password: %w", err)
	}
	_, err = fmt.Fprintln(f, pw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("write the first admin's password: %w", err)
	}
	fmt.Fprintf(stderr, "lxcgate: created admin account %q; its password is in %s (mode 0600)\n"+
		"lxcgate: log in, run 'passwd' to change it, then delete that file\n", name, file)
	return nil
}

// tightenData makes the data directory owner-only (0700) and the
// database, its -wal and -shm, the host key, the LXD client key and the
// first admin's password file 0600, logging each it changed. Missing files
// are fine.
func tightenData(dir string, log *slog.Logger) {
	fix := func(path string, want fs.FileMode) {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil || fi.Mode()&fs.ModeSymlink != 0 {
			return
		}
		if fi.Mode().Perm()&^want == 0 {
			return
		}
		if err := os.Chmod(path, want); err != nil {
			log.Warn("could not tighten permissions", "path", path, "err", err)
			return
		}
		log.Info("tightened permissions", "path", path, "from", fmt.Sprintf("%04o", fi.Mode().Perm()), "to", fmt.Sprintf("%04o", want))
	}
	fix(dir, 0o700)
	for _, n := range []string{"lxcgate.db", "lxcgate.db-wal", "lxcgate.db-shm", "ssh_host_ed25519_key", lxd.ClientKeyName, initialPasswordFile} {
		fix(filepath.Join(dir, n), 0o600)
	}
}

// bootstrapAdmin makes sure a newcomer is never locked out: with no admin
// in the database it creates one, from auth.admin_keys when set, or else
// with a random password shown once (showInitialPassword; never logged).
func (g *Gateway) bootstrapAdmin(ctx context.Context) error {
	st := g.users
	has, err := st.HasAdmin(ctx)
	if err != nil || has {
		return err
	}
	const name = "admin"
	if len(g.cfg.Auth.AdminKeys) > 0 {
		if _, err := st.AddWithKeys(ctx, name, users.RoleAdmin, []byte(strings.Join(g.cfg.Auth.AdminKeys, "\n"))); err != nil {
			return fmt.Errorf("create the first admin from auth.admin_keys: %w", err)
		}
		fmt.Fprintf(g.deps.Stderr, "lxcgate: created admin account %q with the keys in auth.admin_keys\n", name)
		return nil
	}
	pw := users.RandomPassword(20)
	if _, err := st.Add(ctx, name, users.RoleAdmin, pw); err != nil {
		if errors.Is(err, users.ErrExists) {
			return fmt.Errorf("no admin exists and the name %q is taken by a user; run 'lxcgate user add NAME --admin'", name)
		}
		return err
	}
	return showInitialPassword(g.deps.Stderr, g.cfg.Data, name, pw)
}
