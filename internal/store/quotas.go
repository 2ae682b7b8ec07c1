package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/lxcgate/lxcgate/internal/quota"
)

// Quota is a row of quotas: one user's limits. A nil field takes the
// configured default. Its columns are quota.Fields' names.
type Quota = quota.Change

// Quotas is the quotas table.
type Quotas interface {
	// Get returns a user's quota; a user without a row gets every field nil.
	Get(ctx context.Context, q Querier, uid UserID) (Quota, error)
	// Set changes the non-nil fields of a user's quota and keeps the others.
	Set(ctx context.Context, q Querier, uid UserID, ch Quota) error
}

type quotaTable struct{}

var _ Quotas = (*quotaTable)(nil)

// The statements, made from the field table: the numbers in its order,
// then the group (hosts).
var quotaGet, quotaSet = quotaSQL()

func quotaSQL() (get, set string) {
	var cols, marks, updates []string
	for _, f := range quota.Fields {
		cols, marks = append(cols, f.Name), append(marks, "?")
		updates = append(updates, f.Name+" = coalesce(excluded."+f.Name+", "+f.Name+")")
	}
	get = "SELECT " + strings.Join(cols, ", ") + " FROM quotas WHERE user_id = ?"
	set = "INSERT INTO quotas (user_id, " + strings.Join(cols, ", ") + ") VALUES (?, " + strings.Join(marks, ", ") + ")" +
		" ON CONFLICT (user_id) DO UPDATE SET " + strings.Join(updates, ", ")
	return get, set
}

func (quotaTable) Get(ctx context.Context, q Querier, uid UserID) (Quota, error) {
	nums := make([]sql.NullInt64, len(quota.Fields))
	var group sql.NullString
	dst := make([]any, len(quota.Fields))
	for i, f := range quota.Fields {
		dst[i] = &nums[i]
		if f.Kind == quota.Group {
			dst[i] = &group
		}
	}
	err := q.QueryRowContext(ctx, quotaGet, uid).Scan(dst...)
	if errors.Is(err, sql.ErrNoRows) {
		return Quota{}, nil
	}
	if err != nil {
		return Quota{}, mapErr(err)
	}
	var out Quota
	for i, f := range quota.Fields {
		if nums[i].Valid {
			f.Set(&out, nums[i].Int64)
		}
	}
	if group.Valid {
		out.Hosts = &group.String
	}
	return out, nil
}

func (quotaTable) Set(ctx context.Context, q Querier, uid UserID, ch Quota) error {
	args := []any{uid}
	for _, f := range quota.Fields {
		switch v, ok := f.Changed(ch); {
		case f.Kind == quota.Group:
			args = append(args, ch.Hosts)
		case ok:
			args = append(args, v)
		default:
			args = append(args, nil)
		}
	}
	_, err := q.ExecContext(ctx, quotaSet, args...)
	return mapErr(err)
}
