package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/spf13/cobra"
)

func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use: "backup FILE", Short: "write a consistent copy of the database to FILE (mode 0600)",
		Long: "Safe while the gateway serves (SQLite VACUUM INTO). FILE must not exist.\n" +
			"To restore: stop the gateway, copy FILE to DATA/lxcgate.db (removing lxcgate.db-wal and -shm), start it.",
		Args: exactArgs(1, "lxcgate backup FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withUsers(func(ctx context.Context, db *sql.DB, _ *users.Store) error { return backup(ctx, db, args[0]) })
		},
	}
}

// backup writes a consistent copy of db to file, owner-only. The file is
// created empty with mode 0600 first, so the copy is never readable by
// others, not even while it is written.
func backup(ctx context.Context, db *sql.DB, file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(abs); err == nil {
		return fmt.Errorf("backup: %s exists; name a new file", file)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	// VACUUM INTO refuses a non-empty file but writes into an empty one.
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("backup: %w", err)
	}
	return os.Chmod(abs, 0o600)
}
