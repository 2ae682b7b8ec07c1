package store

import (
	"context"
	"database/sql"
	"time"
)

// GPUAssignment is a row of gpu_assignments: a container holding a GPU
// over a span of time. Until is zero while it still holds it.
type GPUAssignment struct {
	GPU       string
	Owner     string
	Container string
	Since     time.Time
	Until     time.Time
}

// GPUHistory is the gpu_assignments table, the record the occupancy chart
// is drawn from.
type GPUHistory interface {
	// Open records that owner's container holds gpus from at on.
	Open(ctx context.Context, q Querier, owner, container string, gpus []string, at time.Time) error
	// Close ends every open assignment of owner's container at at.
	Close(ctx context.Context, q Querier, owner, container string, at time.Time) error
	// Since returns the assignments that were open at some time after from,
	// oldest first.
	Since(ctx context.Context, q Querier, from time.Time) ([]GPUAssignment, error)
}

type gpuHistoryTable struct{}

var _ GPUHistory = gpuHistoryTable{}

func (gpuHistoryTable) Open(ctx context.Context, q Querier, owner, container string, gpus []string, at time.Time) error {
	for _, g := range gpus {
		if _, err := q.ExecContext(ctx, `INSERT INTO gpu_assignments (gpu, owner, container, since_at) VALUES (?, ?, ?, ?)`,
			g, owner, container, at.Unix()); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

func (gpuHistoryTable) Close(ctx context.Context, q Querier, owner, container string, at time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE gpu_assignments SET until_at = ? WHERE owner = ? AND container = ? AND until_at IS NULL`,
		at.Unix(), owner, container)
	return mapErr(err)
}

func (gpuHistoryTable) Since(ctx context.Context, q Querier, from time.Time) ([]GPUAssignment, error) {
	rows, err := q.QueryContext(ctx, `SELECT gpu, owner, container, since_at, until_at FROM gpu_assignments
		WHERE until_at IS NULL OR until_at > ? ORDER BY since_at, id`, from.Unix())
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []GPUAssignment{}
	for rows.Next() {
		var (
			a     GPUAssignment
			since int64
			until sql.NullInt64
		)
		if err := rows.Scan(&a.GPU, &a.Owner, &a.Container, &since, &until); err != nil {
			return nil, mapErr(err)
		}
		a.Since = time.Unix(since, 0).UTC()
		if until.Valid {
			a.Until = time.Unix(until.Int64, 0).UTC()
		}
		out = append(out, a)
	}
	return out, mapErr(rows.Err())
}
