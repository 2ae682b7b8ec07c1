package store

import (
	"context"
	"time"
)

// ContainerKey is a row of container_keys: the public half of a key pair
// lxcgate made and put into a container user's authorized_keys. The
// private half is never stored.
type ContainerKey struct {
	ContainerID ContainerID
	Login       string // the user inside the container
	Fingerprint string
	Comment     string
	Created     time.Time
}

// ContainerKeys is the container_keys table.
type ContainerKeys interface {
	// Add records a key; recording it twice is no error.
	Add(ctx context.Context, q Querier, k ContainerKey) error
	// Fingerprints returns the keys recorded for login in a container.
	Fingerprints(ctx context.Context, q Querier, id ContainerID, login string) ([]string, error)
	// Delete forgets a key; one that was not recorded is no error.
	Delete(ctx context.Context, q Querier, id ContainerID, login, fingerprint string) error
}

type containerKeyTable struct{}

var _ ContainerKeys = (*containerKeyTable)(nil)

func (containerKeyTable) Add(ctx context.Context, q Querier, k ContainerKey) error {
	_, err := q.ExecContext(ctx, `INSERT OR IGNORE INTO container_keys (container_id, login, fingerprint, comment, created_at)
		VALUES (?, ?, ?, ?, ?)`, k.ContainerID, k.Login, k.Fingerprint, k.Comment, k.Created.Unix())
	return mapErr(err)
}

func (containerKeyTable) Fingerprints(ctx context.Context, q Querier, id ContainerID, login string) ([]string, error) {
	return column(ctx, q, `SELECT fingerprint FROM container_keys WHERE container_id = ? AND login = ? ORDER BY id`, id, login)
}

func (containerKeyTable) Delete(ctx context.Context, q Querier, id ContainerID, login, fingerprint string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM container_keys WHERE container_id = ? AND login = ? AND fingerprint = ?`,
		id, login, fingerprint)
	return mapErr(err)
}
