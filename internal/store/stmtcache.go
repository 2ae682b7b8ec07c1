package store

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared is a Querier over a *sql.DB that prepares each query text once
// and reuses the statement (database/sql prepares it again on each pooled
// connection as needed). SQLite spends most of a small query parsing it, so
// the per-login reads and the audit inserts run through one. Give it only
// constant query texts: the cache keeps every text it is given, up to a
// bound past which queries run unprepared.
type Prepared struct {
	db *sql.DB

	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

// maxPrepared bounds a Prepared's statements.
const maxPrepared = 64

// NewPrepared returns a Prepared over db.
func NewPrepared(db *sql.DB) *Prepared {
	return &Prepared{db: db, stmts: map[string]*sql.Stmt{}}
}

var _ Querier = (*Prepared)(nil)

// DB is the database the statements run on.
func (p *Prepared) DB() *sql.DB { return p.db }

// stmt returns query's statement, preparing it on first use; nil when the
// cache is full or preparing failed (the caller then runs query unprepared,
// which reports the error).
func (p *Prepared) stmt(ctx context.Context, query string) *sql.Stmt {
	p.mu.RLock()
	s := p.stmts[query]
	p.mu.RUnlock()
	if s != nil {
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s = p.stmts[query]; s != nil || len(p.stmts) >= maxPrepared {
		return s
	}
	s, err := p.db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	p.stmts[query] = s
	return s
}

// ExecContext runs query's statement.
func (p *Prepared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

// QueryContext runs query's statement.
func (p *Prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query's statement.
func (p *Prepared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// InTx is a Querier running p's statements inside tx.
func (p *Prepared) InTx(tx *sql.Tx) Querier { return preparedTx{p: p, tx: tx} }

type preparedTx struct {
	p  *Prepared
	tx *sql.Tx
}

func (t preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.p.stmt(ctx, query); s != nil {
		return t.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.p.stmt(ctx, query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.p.stmt(ctx, query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// Close closes the statements.
func (p *Prepared) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for q, s := range p.stmts {
		s.Close()
		delete(p.stmts, q)
	}
	return nil
}
