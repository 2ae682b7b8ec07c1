package store

import (
	"context"
	"strings"
)

// Port is a row of ports: a host port reserved for one service of one
// container for the container's lifetime.
type Port struct {
	ContainerID   ContainerID
	Service       string
	ContainerPort int
	HostPort      int  // 0 for a web app
	UserAdded     bool // false: a configured service every container gets
	Web           bool // served through the apps listener, on no host port
}

// Ports is the ports table. A host port belongs to one container at most
// (UNIQUE), and a service name to one port per container.
type Ports interface {
	// Insert reserves p; ErrUnique when its host port is taken or the
	// container already has the service.
	Insert(ctx context.Context, q Querier, p Port) error
	// HostPorts returns every reserved host port.
	HostPorts(ctx context.Context, q Querier) (map[int]bool, error)
	// List returns the ports of the given containers, ordered by service.
	List(ctx context.Context, q Querier, ids ...ContainerID) ([]Port, error)
	// DeleteAdded withdraws a port the user added; ErrNotFound when the
	// container has no user-added port of that service.
	DeleteAdded(ctx context.Context, q Querier, id ContainerID, service string) error
}

type portTable struct{}

var _ Ports = (*portTable)(nil)

// maxInList bounds the ids bound into one IN list (SQLite's variable limit
// is far higher; beyond this, reading the whole table is as cheap).
const maxInList = 500

func (portTable) Insert(ctx context.Context, q Querier, p Port) error {
	var host any
	if !p.Web {
		host = p.HostPort
	}
	_, err := q.ExecContext(ctx, `INSERT INTO ports (container_id, service, container_port, host_port, user_added, web)
		VALUES (?, ?, ?, ?, ?, ?)`, p.ContainerID, p.Service, p.ContainerPort, host, p.UserAdded, p.Web)
	return mapErr(err)
}

func (portTable) HostPorts(ctx context.Context, q Querier) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT host_port FROM ports WHERE host_port IS NOT NULL`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return nil, mapErr(err)
		}
		out[n] = true
	}
	return out, mapErr(rows.Err())
}

func (portTable) List(ctx context.Context, q Querier, ids ...ContainerID) ([]Port, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	want := map[ContainerID]bool{}
	query := `SELECT container_id, service, container_port, coalesce(host_port, 0), user_added, web FROM ports`
	var args []any
	for _, id := range ids {
		want[id] = true
		args = append(args, id)
	}
	if len(ids) <= maxInList {
		query += ` WHERE container_id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
	} else {
		args = nil
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY service, container_id`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []Port
	for rows.Next() {
		var p Port
		if err := rows.Scan(&p.ContainerID, &p.Service, &p.ContainerPort, &p.HostPort, &p.UserAdded, &p.Web); err != nil {
			return nil, mapErr(err)
		}
		if want[p.ContainerID] {
			out = append(out, p)
		}
	}
	return out, mapErr(rows.Err())
}

func (portTable) DeleteAdded(ctx context.Context, q Querier, id ContainerID, service string) error {
	return affected(q.ExecContext(ctx, `DELETE FROM ports WHERE container_id = ? AND service = ? AND user_added = 1`, id, service))
}
