package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/portmap"
	"github.com/lxcgate/lxcgate/internal/store"
)

// This file builds single parts for the host commands that need one
// without serving: migrate, backup, user, portmap, lxd trust.

// Open validates cfg, creates the data directory and returns the migrated
// database.
func Open(cfg config.Config) (*sql.DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	db, err := store.Open(filepath.Join(cfg.Data, "lxcgate.db"))
	if err != nil {
		return nil, err
	}
	if _, err := store.Migrate(context.Background(), db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Service is a container service on db that does not follow LXD (no port
// mapper, no sweeper), for a host command.
func Service(db *sql.DB, cfg config.Config, log *slog.Logger) (*containers.Service, error) {
	lx, err := LXDClient(cfg, log)
	if err != nil {
		return nil, err
	}
	return containers.New(db, lx, ContainerConfig(cfg, nil), log), nil
}

// Backend is the port mapping backend cfg describes ([ports] backend):
// nftables where "auto" finds it usable, else iptables.
func Backend(cfg config.Config) (portmap.Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := cfg.Ports
	first, last, _ := p.PortRange()
	if usesNFTables(cfg) {
		return portmap.NewNFTables(p.ChainPrefix, p.Addresses, first, last)
	}
	return portmap.NewIPTables(p.ChainPrefix, p.Addresses, first, last)
}

// usesNFTables tells where cfg's DNAT lives: in lxcgate's nftables table,
// or in its iptables chains.
func usesNFTables(cfg config.Config) bool {
	b := cfg.Ports.Backend
	return b == "nftables" || (b != "iptables" && portmap.NFTablesUsable())
}

// LXDClient connects to LXD as [lxd] says: over HTTPS with the client
// certificate (made on first use) and the pinned server certificate, or
// through the unix socket.
func LXDClient(cfg config.Config, log *slog.Logger) (*lxd.Client, error) {
	conn, err := lxdConn(cfg)
	if err != nil {
		return nil, err
	}
	lx := lxd.New(conn, log)
	lx.Network = cfg.Containers.Network
	return lx, nil
}

func lxdConn(cfg config.Config) (lxd.Conn, error) {
	c := cfg.LXD
	conn := lxd.Conn{Socket: cfg.Containers.LXDSocket}
	if urls := c.URLs(); len(urls) > 0 {
		conn.URL, conn.URLs = urls[0], urls
	}
	if c.URL == "" {
		return conn, nil
	}
	server, err := os.ReadFile(c.ServerCert)
	if err != nil {
		return conn, fmt.Errorf("lxd.server_cert: %w", err)
	}
	certFile, keyFile, err := ClientCertFiles(cfg)
	if err != nil {
		return conn, err
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return conn, fmt.Errorf("lxd client certificate: %w", err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return conn, fmt.Errorf("lxd client key: %w", err)
	}
	conn.ServerCert, conn.ClientCert, conn.ClientKey = string(server), string(cert), string(key)
	return conn, nil
}

// ClientCertFiles are the configured LXD client files, or DATA's own
// pair, made when missing.
func ClientCertFiles(cfg config.Config) (string, string, error) {
	if cfg.LXD.ClientCert != "" {
		return cfg.LXD.ClientCert, cfg.LXD.ClientKey, nil
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return "", "", fmt.Errorf("data directory: %w", err)
	}
	return lxd.ClientCertFiles(cfg.Data, "lxcgate@"+cfg.Hostname)
}

// NewLogger logs on w at c's level and in c's format.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	return newLeveledLogger(c, w, new(slog.LevelVar))
}

// newLeveledLogger logs at level, which starts at c's and may change later
// (a reload).
func newLeveledLogger(c config.Log, w io.Writer, level *slog.LevelVar) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(c.Level))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// PortmapStatus compares the mappings the database and LXD call for with
// the iptables chains, changing nothing ('lxcgate portmap status').
func PortmapStatus(ctx context.Context, cfg config.Config, log *slog.Logger) (portmap.Status, error) {
	backend, err := Backend(cfg)
	if err != nil {
		return portmap.Status{}, err
	}
	db, err := Open(cfg)
	if err != nil {
		return portmap.Status{}, err
	}
	defer db.Close()
	cs, err := Service(db, cfg, log)
	if err != nil {
		return portmap.Status{}, err
	}
	return portmap.New(backend, cs, log).Check(ctx)
}
