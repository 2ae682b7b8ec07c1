package store

import (
	"context"
	"fmt"
	"time"
)

// States of an attachment row (a volume row uses StateCreating, StateReady
// and StateDeleting).
const (
	AttachAttaching = "attaching" // LXD device being added
	AttachReady     = "ready"
	AttachDetaching = "detaching" // LXD device being removed
)

// Volume is a row of volumes, with its owner's name.
type Volume struct {
	ID      VolumeID
	UserID  UserID
	Owner   string
	Name    string
	Size    int64
	State   string
	Created time.Time
}

// Attachment is a row of volume_attachments, with the names it joins.
type Attachment struct {
	VolumeID    VolumeID
	ContainerID ContainerID
	Owner       string
	Volume      string
	Container   string
	Path        string
	ReadOnly    bool
	State       string
}

// Volumes is the volumes table, their attachments and snapshot pins.
type Volumes interface {
	// Insert adds v (its ID and Owner are ignored); ErrUnique when its
	// owner has a volume of that name in any state.
	Insert(ctx context.Context, q Querier, v Volume) (VolumeID, error)
	// Get returns owner's volume name; ErrNotFound when there is none or
	// it is being deleted.
	Get(ctx context.Context, q Querier, owner, name string) (Volume, error)
	// Exists reports whether the user has a volume name in any state.
	Exists(ctx context.Context, q Querier, uid UserID, name string) (bool, error)
	// List returns owner's volumes in every state, or everyone's for "",
	// ordered by owner and name.
	List(ctx context.Context, q Querier, owner string) ([]Volume, error)
	// Usage counts a user's volumes and sums their sizes, in every state.
	Usage(ctx context.Context, q Querier, uid UserID) (int, int64, error)
	SetState(ctx context.Context, q Querier, id VolumeID, state string) error
	SetSize(ctx context.Context, q Querier, id VolumeID, size int64) error
	// Delete removes a volume row; ErrForeignKey while it is attached.
	Delete(ctx context.Context, q Querier, id VolumeID) error
	// DeleteReservation removes a row only while it is "creating".
	DeleteReservation(ctx context.Context, q Querier, id VolumeID) error

	// Attach records an attachment; ErrUnique when the volume is already
	// attached to that container or the path is taken there.
	Attach(ctx context.Context, q Querier, a Attachment) error
	SetAttachState(ctx context.Context, q Querier, v VolumeID, c ContainerID, state string) error
	Detach(ctx context.Context, q Querier, v VolumeID, c ContainerID) error
	// Attachments lists owner's attachments in every state, or everyone's
	// for "".
	Attachments(ctx context.Context, q Querier, owner string) ([]Attachment, error)

	Pin(ctx context.Context, q Querier, id VolumeID, snapshot string) error
	Pins(ctx context.Context, q Querier, id VolumeID) ([]string, error)
	Unpin(ctx context.Context, q Querier, id VolumeID, snapshot string) error
}

type volumeTable struct{}

var _ Volumes = (*volumeTable)(nil)

const volumeCols = `v.id, v.user_id, u.name, v.name, v.size, v.state, v.created_at`

func scanVolume(sc scanner) (Volume, error) {
	var v Volume
	var at int64
	if err := sc.Scan(&v.ID, &v.UserID, &v.Owner, &v.Name, &v.Size, &v.State, &at); err != nil {
		return Volume{}, mapErr(err)
	}
	v.Created = time.Unix(at, 0).UTC()
	return v, nil
}

func (volumeTable) Insert(ctx context.Context, q Querier, v Volume) (VolumeID, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO volumes (user_id, name, size, state, created_at) VALUES (?, ?, ?, ?, ?)`,
		v.UserID, v.Name, v.Size, v.State, v.Created.Unix())
	if err != nil {
		return 0, mapErr(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("id of volume %s: %w", v.Name, mapErr(err))
	}
	return VolumeID(id), nil
}

func (volumeTable) Get(ctx context.Context, q Querier, owner, name string) (Volume, error) {
	return scanVolume(q.QueryRowContext(ctx, `SELECT `+volumeCols+` FROM volumes v JOIN users u ON u.id = v.user_id
		WHERE u.name = ? AND v.name = ? AND v.state != 'deleting'`, owner, name))
}

func (volumeTable) Exists(ctx context.Context, q Querier, uid UserID, name string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM volumes WHERE user_id = ? AND name = ?`, uid, name).Scan(&n)
	return n > 0, mapErr(err)
}

func (volumeTable) List(ctx context.Context, q Querier, owner string) ([]Volume, error) {
	query := `SELECT ` + volumeCols + ` FROM volumes v JOIN users u ON u.id = v.user_id`
	var args []any
	if owner != "" {
		query += ` WHERE u.name = ?`
		args = append(args, owner)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY u.name, v.name`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Volume
	for rows.Next() {
		v, err := scanVolume(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}

func (volumeTable) Usage(ctx context.Context, q Querier, uid UserID) (int, int64, error) {
	var n int
	var size int64
	err := q.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM volumes WHERE user_id = ?`, uid).Scan(&n, &size)
	return n, size, mapErr(err)
}

func (volumeTable) SetState(ctx context.Context, q Querier, id VolumeID, state string) error {
	return affected(q.ExecContext(ctx, `UPDATE volumes SET state = ? WHERE id = ?`, state, id))
}

func (volumeTable) SetSize(ctx context.Context, q Querier, id VolumeID, size int64) error {
	return affected(q.ExecContext(ctx, `UPDATE volumes SET size = ? WHERE id = ?`, size, id))
}

func (volumeTable) Delete(ctx context.Context, q Querier, id VolumeID) error {
	return affected(q.ExecContext(ctx, `DELETE FROM volumes WHERE id = ?`, id))
}

func (volumeTable) DeleteReservation(ctx context.Context, q Querier, id VolumeID) error {
	return affected(q.ExecContext(ctx, `DELETE FROM volumes WHERE id = ? AND state = 'creating'`, id))
}

func (volumeTable) Attach(ctx context.Context, q Querier, a Attachment) error {
	_, err := q.ExecContext(ctx, `INSERT INTO volume_attachments (volume_id, container_id, path, readonly, state) VALUES (?, ?, ?, ?, ?)`,
		a.VolumeID, a.ContainerID, a.Path, a.ReadOnly, a.State)
	return mapErr(err)
}

func (volumeTable) SetAttachState(ctx context.Context, q Querier, v VolumeID, c ContainerID, state string) error {
	return affected(q.ExecContext(ctx, `UPDATE volume_attachments SET state = ? WHERE volume_id = ? AND container_id = ?`, state, v, c))
}

func (volumeTable) Detach(ctx context.Context, q Querier, v VolumeID, c ContainerID) error {
	return affected(q.ExecContext(ctx, `DELETE FROM volume_attachments WHERE volume_id = ? AND container_id = ?`, v, c))
}

func (volumeTable) Attachments(ctx context.Context, q Querier, owner string) ([]Attachment, error) {
	query := `SELECT a.volume_id, a.container_id, u.name, v.name, c.name, a.path, a.readonly, a.state
		FROM volume_attachments a JOIN volumes v ON v.id = a.volume_id JOIN containers c ON c.id = a.container_id
		JOIN users u ON u.id = v.user_id`
	var args []any
	if owner != "" {
		query += ` WHERE u.name = ?`
		args = append(args, owner)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY u.name, v.name, c.name`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.VolumeID, &a.ContainerID, &a.Owner, &a.Volume, &a.Container, &a.Path, &a.ReadOnly, &a.State); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, a)
	}
	return out, mapErr(rows.Err())
}

func (volumeTable) Pin(ctx context.Context, q Querier, id VolumeID, snapshot string) error {
	_, err := q.ExecContext(ctx, `INSERT OR IGNORE INTO volume_snapshot_pins (volume_id, name) VALUES (?, ?)`, id, snapshot)
	return mapErr(err)
}

func (volumeTable) Pins(ctx context.Context, q Querier, id VolumeID) ([]string, error) {
	return column(ctx, q, `SELECT name FROM volume_snapshot_pins WHERE volume_id = ? ORDER BY name`, id)
}

func (volumeTable) Unpin(ctx context.Context, q Querier, id VolumeID, snapshot string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM volume_snapshot_pins WHERE volume_id = ? AND name = ?`, id, snapshot)
	return mapErr(err)
}
