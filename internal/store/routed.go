package store

import (
	"context"
	"database/sql"
	"time"
)

// RoutedAddress is a row of routed_addresses: a routed address in a
// cluster member's subnet, claimed for a container. ContainerID is 0
// while the claim is a create's in flight, before its reservation; the
// reservation's insert binds it (a trigger, in the same transaction).
type RoutedAddress struct {
	Subnet      string
	Address     string
	UserID      UserID
	Owner       string // the user's name, read back only
	Name        string
	ContainerID ContainerID
	ClaimedAt   time.Time
}

// RoutedAddresses is the routed_addresses table. An address is claimed
// once per subnet (PRIMARY KEY): whoever inserts it first, in any process
// on the database, has it. A bound claim goes when its container's row
// does.
type RoutedAddresses interface {
	// Claim inserts a; ErrUnique when the address is taken in its subnet.
	Claim(ctx context.Context, q Querier, a RoutedAddress) error
	// Taken returns the addresses claimed in subnet.
	Taken(ctx context.Context, q Querier, subnet string) (map[string]bool, error)
	// List returns every claim, with its owner's name, by subnet and address.
	List(ctx context.Context, q Querier) ([]RoutedAddress, error)
	// Unclaim drops a create's claim while it is still unbound (the
	// reservation never came); a bound one stays. No error when none.
	Unclaim(ctx context.Context, q Querier, subnet, address string) error
	// Delete drops a claim, bound or not; ErrNotFound when there is none.
	Delete(ctx context.Context, q Querier, subnet, address string) error
	// KeepOnly drops the container's claims other than subnet/address
	// (a moved container's old address).
	KeepOnly(ctx context.Context, q Querier, id ContainerID, subnet, address string) error
	// DeleteUnbound drops the unbound claims in subnet made before
	// before: creates that died between claim and reservation.
	DeleteUnbound(ctx context.Context, q Querier, subnet string, before time.Time) (int, error)
}

type routedTable struct{}

var _ RoutedAddresses = (*routedTable)(nil)

func (routedTable) Claim(ctx context.Context, q Querier, a RoutedAddress) error {
	var id any
	if a.ContainerID != 0 {
		id = a.ContainerID
	}
	_, err := q.ExecContext(ctx, `INSERT INTO routed_addresses (subnet, address, user_id, name, container_id, claimed_at)
		VALUES (?, ?, ?, ?, ?, ?)`, a.Subnet, a.Address, a.UserID, a.Name, id, a.ClaimedAt.Unix())
	return mapErr(err)
}

func (routedTable) Taken(ctx context.Context, q Querier, subnet string) (map[string]bool, error) {
	addrs, err := column(ctx, q, `SELECT address FROM routed_addresses WHERE subnet = ?`, subnet)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		out[a] = true
	}
	return out, nil
}

func (routedTable) List(ctx context.Context, q Querier) ([]RoutedAddress, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.subnet, r.address, r.user_id, u.name, r.name, r.container_id, r.claimed_at
		FROM routed_addresses r JOIN users u ON u.id = r.user_id ORDER BY r.subnet, r.address`)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []RoutedAddress
	for rows.Next() {
		var a RoutedAddress
		var id sql.NullInt64
		var at int64
		if err := rows.Scan(&a.Subnet, &a.Address, &a.UserID, &a.Owner, &a.Name, &id, &at); err != nil {
			return nil, mapErr(err)
		}
		a.ContainerID, a.ClaimedAt = ContainerID(id.Int64), time.Unix(at, 0)
		out = append(out, a)
	}
	return out, mapErr(rows.Err())
}

func (routedTable) Unclaim(ctx context.Context, q Querier, subnet, address string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM routed_addresses WHERE subnet = ? AND address = ? AND container_id IS NULL`, subnet, address)
	return mapErr(err)
}

func (routedTable) Delete(ctx context.Context, q Querier, subnet, address string) error {
	return affected(q.ExecContext(ctx, `DELETE FROM routed_addresses WHERE subnet = ? AND address = ?`, subnet, address))
}

func (routedTable) KeepOnly(ctx context.Context, q Querier, id ContainerID, subnet, address string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM routed_addresses WHERE container_id = ? AND NOT (subnet = ? AND address = ?)`,
		id, subnet, address)
	return mapErr(err)
}

func (routedTable) DeleteUnbound(ctx context.Context, q Querier, subnet string, before time.Time) (int, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM routed_addresses WHERE subnet = ? AND container_id IS NULL AND claimed_at < ?`,
		subnet, before.Unix())
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return int(n), mapErr(err)
}
