package store

import (
	"context"
	"database/sql"
	"time"
)

// QueueEntry is a row of gpu_queue: a launch waiting for GPUs, or one
// that started or failed and whose owner is still to be told.
type QueueEntry struct {
	ID      int64
	UserID  UserID
	User    string // the owner's name (read only)
	Name    string
	Request string // the launch, as JSON
	GPUs    int
	Host    string // the member or group it waits on, for the listing
	Created time.Time
	State   string // waiting, starting, started, failed
	Detail  string // why it failed
	Done    time.Time
}

// Queue states.
const (
	QueueWaiting  = "waiting"
	QueueStarting = "starting"
	QueueStarted  = "started"
	QueueFailed   = "failed"
)

// Queue is the gpu_queue table. It stays small (what waits now, and what
// is still to be told), so it is read whole.
type Queue interface {
	// Insert adds a waiting entry; ErrUnique when the user already has
	// one of that name waiting.
	Insert(ctx context.Context, q Querier, e QueueEntry) (int64, error)
	// List returns every entry, oldest first, with its owner's name.
	List(ctx context.Context, q Querier) ([]QueueEntry, error)
	// SetState moves an entry on; ErrNotFound when it is gone.
	SetState(ctx context.Context, q Querier, id int64, state, detail string, at time.Time) error
	// Delete drops an entry; ErrNotFound when it is gone.
	Delete(ctx context.Context, q Querier, id int64) error
	// Prune drops told entries done before before.
	Prune(ctx context.Context, q Querier, before time.Time) error
}

type queueTable struct{}

var _ Queue = queueTable{}

func (queueTable) Insert(ctx context.Context, q Querier, e QueueEntry) (int64, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO gpu_queue (user_id, name, request, gpus, host, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		e.UserID, e.Name, e.Request, e.GPUs, e.Host, e.Created.UnixNano())
	if err != nil {
		return 0, mapErr(err)
	}
	return res.LastInsertId()
}

func (queueTable) List(ctx context.Context, q Querier) ([]QueueEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT g.id, g.user_id, u.name, g.name, g.request, g.gpus, g.host, g.created_at, g.state, g.detail, g.done_at
		FROM gpu_queue g JOIN users u ON u.id = g.user_id ORDER BY g.created_at, g.id`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []QueueEntry
	for rows.Next() {
		var e QueueEntry
		var created int64
		var done sql.NullInt64
		if err := rows.Scan(&e.ID, &e.UserID, &e.User, &e.Name, &e.Request, &e.GPUs, &e.Host, &created, &e.State, &e.Detail, &done); err != nil {
			return nil, mapErr(err)
		}
		e.Created = time.Unix(0, created)
		if done.Valid {
			e.Done = time.Unix(0, done.Int64)
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}

func (queueTable) SetState(ctx context.Context, q Querier, id int64, state, detail string, at time.Time) error {
	var done any
	if state == QueueStarted || state == QueueFailed {
		done = at.UnixNano()
	}
	return affected(q.ExecContext(ctx, `UPDATE gpu_queue SET state = ?, detail = ?, done_at = ? WHERE id = ?`, state, detail, done, id))
}

func (queueTable) Delete(ctx context.Context, q Querier, id int64) error {
	return affected(q.ExecContext(ctx, `DELETE FROM gpu_queue WHERE id = ?`, id))
}

func (queueTable) Prune(ctx context.Context, q Querier, before time.Time) error {
	_, err := q.ExecContext(ctx, `DELETE FROM gpu_queue WHERE state IN ('started', 'failed') AND done_at < ?`, before.UnixNano())
	return mapErr(err)
}
