package gateway

import (
	"context"
	"fmt"
	"github.com/lxcgate/lxcgate/internal/apps"
	"net"
	"net/url"
	"path/filepath"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/metrics"
	"github.com/lxcgate/lxcgate/internal/server"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/web"
	"github.com/lxcgate/lxcgate/internal/webauth"
)

// build connects the parts on the open database.
func (g *Gateway) build() error {
	cfg := g.cfg
	g.users = users.New(g.db)
	lobby, err := g.prepareUsers(g.ctx)
	if err != nil {
		return err
	}
	g.lobby = lobby
	hostKey, err := server.LoadHostKey(filepath.Join(cfg.Data, "ssh_host_ed25519_key"))
	if err != nil {
		return err
	}
	g.throttle = throttle.New(throttleLimits(cfg))
	authn := auth.New(g.users, g.throttle)
	users.SetMaxConcurrentHashes(cfg.Auth.MaxConcurrentHashes)
	g.users.SetLogger(g.log)
	g.audit = audit.New(g.db, g.log)
	g.metrics = metrics.New()
	if g.eng, err = g.newEngine(); err != nil {
		return err
	}
	wa := g.buildWeb()
	_, listenPort, _ := net.SplitHostPort(cfg.SSH.Listen)
	// The shell's rows are group-committed with others; the server syncs
	// the trail before each session's exit status.
	g.shell = shell.New(shell.Options{Auth: authn, Audit: g.audit.Soon(), Log: g.log, Host: cfg.Hostname,
		Services: g.eng.cs, Keys: g.users, Admin: g.users, AuditLog: g.audit,
		Public: publicAddress(cfg), Gateway: net.JoinHostPort(publicAddress(cfg), listenPort),
		Metrics: g.metrics, Web: wa, Notices: g.eng.notifier})
	g.eng.notifier.SetLive(func(user, text string) { g.shell.Tell(user, text) })
	limits := serverLimits(cfg)
	g.srv = server.New(server.Options{
		HostKey: hostKey, Auth: authn, Shell: g.shell, Audit: g.audit, Log: g.log,
		Lobby:                    lobby,
		HandshakeTimeout:         cfg.SSH.HandshakeTimeout.D(),
		IdleTimeout:              cfg.SSH.IdleTimeout.D(),
		MaxSessions:              limits.MaxSessions,
		MaxSessionsPerUser:       limits.MaxSessionsPerUser,
		MaxConnections:           limits.MaxConnections,
		Jump:                     g.eng.cs,
		Rooms:                    g.eng.cs,
		MaxUnauthPerAddress:      limits.MaxUnauthPerAddress,
		MaxConnectionsPerAddress: limits.MaxConnectionsPerAddress,
		MaxChannelsPerConnection: limits.MaxChannelsPerConnection,
		Accounts:                 g.users,
		Metrics:                  g.metrics,
		Invite:                   server.InviteOptions{Store: g.users, Throttle: g.throttle, Gateway: PublicSSH(cfg)},
	})
	return nil
}

// buildWeb builds the web page and API when [web] listen is set; both are
// nil when it is off (and the shell then has no web or token command).
func (g *Gateway) buildWeb() shell.Web {
	cfg := g.cfg
	if cfg.Web.Listen == "" {
		return nil
	}
	wa := webauth.New(g.db, webBaseURL(cfg))
	pub, _ := url.Parse(cfg.Web.PublicURL)
	proxies, _ := config.ParsePrefixes(cfg.Web.TrustedProxies) // validated
	secure := cfg.Web.TLSCert != "" || (pub != nil && pub.Scheme == "https")
	opts := web.Options{Service: g.eng.cs, Users: g.users, Auth: wa, Audit: g.audit, Log: g.log, Host: cfg.Hostname,
		Public: publicAddress(cfg), Secure: secure,
		PublicURL: cfg.Web.PublicURL, TrustedProxies: proxies, Throttle: g.throttle}
	if base := appsBaseURL(cfg); base != nil {
		g.apps = apps.New(apps.Options{Domain: cfg.Web.AppsDomain, Public: base, Gateway: webBaseURL(cfg),
			Secure: secure || base.Scheme == "https", MaxBody: int64(cfg.Web.AppsMaxBody), Timeout: cfg.Web.AppsTimeout.D(),
			PerUser: cfg.Web.AppsPerUser, Resolve: g.eng.cs, Session: wa, Users: g.users, Audit: g.audit, Log: g.log})
		g.onClose(g.apps.Close)
		opts.Apps = g.apps
	}
	g.site = web.New(opts)
	return wa
}

// prepareUsers makes the first admin when there is none and returns the
// lobby's name ("" when off).
func (g *Gateway) prepareUsers(ctx context.Context) (string, error) {
	if err := g.bootstrapAdmin(ctx); err != nil {
		return "", err
	}
	if _, err := g.users.Get(ctx, users.InviteAccount); err == nil {
		// Made before the name was reserved: the invite login now has it.
		g.log.Warn("a user is named like the invite login and cannot log in; rename them", "user", users.InviteAccount)
	}
	if !g.cfg.Lobby.Enabled {
		return "", nil
	}
	lobby := g.cfg.Lobby.Name
	if lobby == users.InviteAccount {
		return "", fmt.Errorf("lobby.name %q is reserved for invite codes; pick another name", lobby)
	}
	if _, err := g.users.Get(ctx, lobby); err == nil {
		return "", fmt.Errorf("lobby.name %q is also a user's name; rename the lobby or the user", lobby)
	}
	return lobby, nil
}
