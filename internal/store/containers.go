package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// States of a container row.
const (
	StateCreating = "creating" // reserved; LXD not yet done
	StateReady    = "ready"
	StateDeleting = "deleting" // LXD delete under way
)

// Container is a row of containers, with its owner's name.
type Container struct {
	ID       ContainerID
	UserID   UserID
	Owner    string
	Name     string
	Image    string
	CPU      int
	Memory   int64
	Disk     int64
	GPUs     string // "", "all", or a comma list of GPU keys
	GPUCount int
	State    string
	Created  time.Time
	// LeaseUntil is when the lease runs out; zero: no lease.
	LeaseUntil time.Time
	// StopReason says why the gateway stopped it ("idle", "expired"; ""
	// when it did not, or it was started since), at StoppedAt.
	StopReason string
	StoppedAt  time.Time
}

// Usage is what one user's containers take, summed.
type Usage struct {
	Containers int
	CPU        int
	Memory     int64
	Disk       int64
	GPUs       int
}

// Containers is the containers table: who owns which container.
type Containers interface {
	// Insert adds c (its ID and Owner are ignored); ErrUnique when its
	// owner has a container of that name in any state.
	Insert(ctx context.Context, q Querier, c Container) (ContainerID, error)
	// Get returns owner's container name; ErrNotFound when there is none
	// or it is being deleted.
	Get(ctx context.Context, q Querier, owner, name string) (Container, error)
	// Exists reports whether the user has a container name in any state.
	Exists(ctx context.Context, q Querier, uid UserID, name string) (bool, error)
	// List returns owner's containers in every state, or everyone's for
	// owner "", ordered by owner and name.
	List(ctx context.Context, q Querier, owner string) ([]Container, error)
	// Usage sums what a user's containers take, in every state.
	Usage(ctx context.Context, q Querier, uid UserID) (Usage, error)
	// SetState changes a container's state; ErrNotFound when it is gone.
	SetState(ctx context.Context, q Querier, id ContainerID, state string) error
	// Delete removes a container row (its ports, keys and pins go with
	// it); ErrNotFound when it is gone.
	Delete(ctx context.Context, q Querier, id ContainerID) error
	// DeleteReservation removes a row only while it is still "creating";
	// ErrNotFound otherwise.
	DeleteReservation(ctx context.Context, q Querier, id ContainerID) error
	// SetLease sets when the lease runs out (zero: no lease) and clears an
	// "expired" stop reason; ErrNotFound when the row is gone.
	SetLease(ctx context.Context, q Querier, id ContainerID, until time.Time) error
	// SetStopped records why and when the gateway stopped a container; a
	// reason "" clears it (the container was started).
	SetStopped(ctx context.Context, q Querier, id ContainerID, reason string, at time.Time) error
}

type containerTable struct{}

var _ Containers = (*containerTable)(nil)

const containerCols = `c.id, c.user_id, u.name, c.name, c.image, c.cpu, c.memory, c.disk, c.gpus, c.gpu_count, c.state, c.created_at,
	c.lease_until, coalesce(c.stop_reason, ''), c.stopped_at`

func scanContainer(sc scanner) (Container, error) {
	var c Container
	var at int64
	var lease, stopped sql.NullInt64
	err := sc.Scan(&c.ID, &c.UserID, &c.Owner, &c.Name, &c.Image, &c.CPU, &c.Memory, &c.Disk, &c.GPUs, &c.GPUCount, &c.State, &at,
		&lease, &c.StopReason, &stopped)
	if err != nil {
		return Container{}, mapErr(err)
	}
	c.Created = time.Unix(at, 0).UTC()
	if lease.Valid {
		c.LeaseUntil = time.Unix(lease.Int64, 0).UTC()
	}
	if stopped.Valid {
		c.StoppedAt = time.Unix(stopped.Int64, 0).UTC()
	}
	return c, nil
}

// unixOrNull stores a zero time as NULL.
func unixOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

func (containerTable) Insert(ctx context.Context, q Querier, c Container) (ContainerID, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO containers (user_id, name, image, cpu, memory, disk, gpus, gpu_count, state, created_at, lease_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.UserID, c.Name, c.Image, c.CPU, c.Memory, c.Disk, c.GPUs, c.GPUCount, c.State, c.Created.Unix(), unixOrNull(c.LeaseUntil))
	if err != nil {
		return 0, mapErr(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("id of container %s: %w", c.Name, mapErr(err))
	}
	return ContainerID(id), nil
}

func (containerTable) Get(ctx context.Context, q Querier, owner, name string) (Container, error) {
	return scanContainer(q.QueryRowContext(ctx, `SELECT `+containerCols+` FROM containers c JOIN users u ON u.id = c.user_id
		WHERE u.name = ? AND c.name = ? AND c.state != 'deleting'`, owner, name))
}

func (containerTable) Exists(ctx context.Context, q Querier, uid UserID, name string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM containers WHERE user_id = ? AND name = ?`, uid, name).Scan(&n)
	return n > 0, mapErr(err)
}

func (containerTable) List(ctx context.Context, q Querier, owner string) ([]Container, error) {
	query := `SELECT ` + containerCols + ` FROM containers c JOIN users u ON u.id = c.user_id`
	var args []any
	if owner != "" {
		query += ` WHERE u.name = ?`
		args = append(args, owner)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY u.name, c.name`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Container
	for rows.Next() {
		c, err := scanContainer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

func (containerTable) Usage(ctx context.Context, q Querier, uid UserID) (Usage, error) {
	var u Usage
	err := q.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(cpu), 0), coalesce(sum(memory), 0),
		coalesce(sum(disk), 0), coalesce(sum(gpu_count), 0) FROM containers WHERE user_id = ?`, uid).
		Scan(&u.Containers, &u.CPU, &u.Memory, &u.Disk, &u.GPUs)
	return u, mapErr(err)
}

func (containerTable) SetState(ctx context.Context, q Querier, id ContainerID, state string) error {
	return affected(q.ExecContext(ctx, `UPDATE containers SET state = ? WHERE id = ?`, state, id))
}

func (containerTable) Delete(ctx context.Context, q Querier, id ContainerID) error {
	return affected(q.ExecContext(ctx, `DELETE FROM containers WHERE id = ?`, id))
}

func (containerTable) DeleteReservation(ctx context.Context, q Querier, id ContainerID) error {
	return affected(q.ExecContext(ctx, `DELETE FROM containers WHERE id = ? AND state = 'creating'`, id))
}

func (containerTable) SetLease(ctx context.Context, q Querier, id ContainerID, until time.Time) error {
	return affected(q.ExecContext(ctx, `UPDATE containers SET lease_until = ?,
		stop_reason = CASE WHEN stop_reason = 'expired' THEN NULL ELSE stop_reason END WHERE id = ?`, unixOrNull(until), id))
}

func (containerTable) SetStopped(ctx context.Context, q Querier, id ContainerID, reason string, at time.Time) error {
	if reason == "" {
		return affected(q.ExecContext(ctx, `UPDATE containers SET stop_reason = NULL, stopped_at = NULL WHERE id = ?`, id))
	}
	return affected(q.ExecContext(ctx, `UPDATE containers SET stop_reason = ?, stopped_at = ? WHERE id = ?`, reason, at.Unix(), id))
}
