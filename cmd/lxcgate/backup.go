package main

import (
	"context"
	"database/sql"

	"github.com/spf13/cobra"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/users"
)

func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use: "backup FILE", Short: "write a consistent copy of the database to FILE (mode 0600)",
		Long: "Safe while the gateway serves (SQLite VACUUM INTO). FILE must not exist.\n" +
			"To restore: stop the gateway, copy FILE to DATA/lxcgate.db (removing lxcgate.db-wal and -shm), start it.",
		Args: exactArgs(1, "lxcgate backup FILE"),
		RunE: func(_ *cobra.Command, args []string) error {
			return a.withUsers(func(ctx context.Context, db *sql.DB, _ *users.Store) error { return store.Backup(ctx, db, args[0]) })
		},
	}
}
