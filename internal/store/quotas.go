package store

import (
	"context"
	"database/sql"
	"errors"
)

// Quota is a row of quotas: one user's limits. A nil field takes the
// configured default.
type Quota struct {
	Containers, CPU, Memory, Disk, GPUs, Ports, Snapshots *int64
	Hosts                                                 *string // a cluster group; "" any member
}

// Quotas is the quotas table.
type Quotas interface {
	// Get returns a user's quota; a user without a row gets every field nil.
	Get(ctx context.Context, q Querier, uid UserID) (Quota, error)
	// Set changes the non-nil fields of a user's quota and keeps the others.
	Set(ctx context.Context, q Querier, uid UserID, ch Quota) error
}

type quotaTable struct{}

var _ Quotas = (*quotaTable)(nil)

func (quotaTable) Get(ctx context.Context, q Querier, uid UserID) (Quota, error) {
	var c, cpu, mem, disk, gpus, ports, snaps sql.NullInt64
	var hosts sql.NullString
	err := q.QueryRowContext(ctx, `SELECT containers, cpu, memory, disk, gpus, ports, snapshots, hosts FROM quotas WHERE user_id = ?`, uid).
		Scan(&c, &cpu, &mem, &disk, &gpus, &ports, &snaps, &hosts)
	if errors.Is(err, sql.ErrNoRows) {
		return Quota{}, nil
	}
	if err != nil {
		return Quota{}, mapErr(err)
	}
	out := Quota{Containers: ptrOf(c), CPU: ptrOf(cpu), Memory: ptrOf(mem), Disk: ptrOf(disk), GPUs: ptrOf(gpus),
		Ports: ptrOf(ports), Snapshots: ptrOf(snaps)}
	if hosts.Valid {
		out.Hosts = &hosts.String
	}
	return out, nil
}

func ptrOf(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

func (quotaTable) Set(ctx context.Context, q Querier, uid UserID, ch Quota) error {
	_, err := q.ExecContext(ctx, `INSERT INTO quotas (user_id, containers, cpu, memory, disk, gpus, ports, snapshots, hosts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET containers = coalesce(excluded.containers, containers),
		cpu = coalesce(excluded.cpu, cpu), memory = coalesce(excluded.memory, memory),
		disk = coalesce(excluded.disk, disk), gpus = coalesce(excluded.gpus, gpus), ports = coalesce(excluded.ports, ports),
		snapshots = coalesce(excluded.snapshots, snapshots), hosts = coalesce(excluded.hosts, hosts)`,
		uid, ch.Containers, ch.CPU, ch.Memory, ch.Disk, ch.GPUs, ch.Ports, ch.Snapshots, ch.Hosts)
	return mapErr(err)
}
