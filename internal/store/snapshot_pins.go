package store

import "context"

// Pins is the snapshot_pins table: snapshots kept from pruning. LXD holds
// the snapshots themselves.
type Pins interface {
	// Add pins a snapshot; pinning it twice is no error.
	Add(ctx context.Context, q Querier, id ContainerID, snapshot string) error
	// List returns a container's pinned snapshot names, sorted.
	List(ctx context.Context, q Querier, id ContainerID) ([]string, error)
	// Delete unpins a snapshot; one that was not pinned is no error.
	Delete(ctx context.Context, q Querier, id ContainerID, snapshot string) error
}

type pinTable struct{}

var _ Pins = (*pinTable)(nil)

func (pinTable) Add(ctx context.Context, q Querier, id ContainerID, snapshot string) error {
	_, err := q.ExecContext(ctx, `INSERT OR IGNORE INTO snapshot_pins (container_id, name) VALUES (?, ?)`, id, snapshot)
	return mapErr(err)
}

func (pinTable) List(ctx context.Context, q Querier, id ContainerID) ([]string, error) {
	return column(ctx, q, `SELECT name FROM snapshot_pins WHERE container_id = ? ORDER BY name`, id)
}

func (pinTable) Delete(ctx context.Context, q Querier, id ContainerID, snapshot string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM snapshot_pins WHERE container_id = ? AND name = ?`, id, snapshot)
	return mapErr(err)
}
