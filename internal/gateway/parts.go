package gateway

import (
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/apps"
	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/notify"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/server"
	"github.com/lxcgate/lxcgate/internal/sweep"
	"github.com/lxcgate/lxcgate/internal/throttle"
)

// This file turns the configuration into each part's own settings, at
// start and at every reload.

func throttleLimits(cfg config.Config) throttle.Limits {
	return throttle.Limits{
		PerAccount: cfg.Auth.MaxFailures, PerAddress: cfg.Auth.MaxFailuresPerAddress,
		Window: cfg.Auth.FailureWindow.D(), Lockout: cfg.Auth.Lockout.D(),
	}
}

func serverLimits(cfg config.Config) server.Limits {
	c := cfg.SSH
	return server.Limits{
		MaxSessions: c.MaxSessions, MaxSessionsPerUser: c.MaxSessionsPerUser, MaxConnections: c.MaxConnections,
		MaxUnauthPerAddress: c.MaxUnauthPerAddress, MaxConnectionsPerAddress: c.MaxConnectionsPerAddress,
		MaxChannelsPerConnection: c.MaxChannelsPerConnection,
	}
}

// ContainerConfig is the container service's share of the configuration;
// onChange hears of every container that changed (nil for none).
func ContainerConfig(cfg config.Config, onChange func(ref.Ref)) containers.Config {
	c := cfg
	first, last, _ := c.Ports.PortRange()
	return containers.Config{
		DefaultImage: c.Containers.DefaultImage, Images: c.Containers.Images,
		CPU: c.Containers.CPU, Memory: int64(c.Containers.Memory), Disk: int64(c.Containers.Disk),
		Prefix:       c.Containers.ProjectPrefix,
		GPU:          lxd.GPUProfile{Name: c.GPU.Profile, NvidiaRuntime: c.GPU.NvidiaRuntime, DriverCapabilities: c.GPU.DriverCapabilities},
		SnapshotKeep: c.Snapshots.Keep,
		Services:     c.Ports.Services, PortFirst: first, PortLast: last,
		MaxCPU: c.Containers.MaxCPU, MaxMemory: int64(c.Containers.MaxMemory), MaxDisk: int64(c.Containers.MaxDisk),
		SharedGPUs: c.GPU.Shared, MIG: c.GPU.MIG, OnChange: onChange, Quota: c.Quota.Limits(),
		LeaseDefault: c.Leases.Default.D(), LeaseMax: c.Leases.Max.D(),
		VolumePool: c.Volumes.Pool, VolumeDefaultSize: int64(c.Volumes.DefaultSize), VolumeMaxSize: int64(c.Volumes.MaxSize),
		PersonalPath: c.Volumes.Personal, Datasets: datasetsOf(c),
		ContainerUser: c.Access.ContainerUser, StartOnLogin: c.Access.StartOnLogin,
		WebApps: c.Ports.Web, AppURL: appURL(c),
		FairshareWindow: time.Duration(c.GPU.FairshareWindow), StarvationAfter: time.Duration(c.GPU.StarvationAfter),
		RenewWhileWaiting: time.Duration(c.GPU.RenewWhileWaiting),
	}
}

// appURL is where a web app is reached; nil when web apps are off.
func appURL(cfg config.Config) func(owner, name, label string) string {
	base := appsBaseURL(cfg)
	if base == nil {
		return nil
	}
	domain := cfg.Web.AppsDomain
	return func(owner, name, label string) string { return apps.URL(domain, base, owner, name, label) }
}

// datasetsOf is the configured datasets as the container service takes
// them.
func datasetsOf(c config.Config) map[string]containers.Dataset {
	out := map[string]containers.Dataset{}
	for name, d := range c.Datasets {
		out[name] = containers.Dataset{Source: d.Source, Path: d.Path, Writable: d.Writable(), Default: d.Default, Users: d.Users, Members: d.Members}
	}
	return out
}

func sweepConfig(cfg config.Config) sweep.Config {
	warnings, _ := cfg.Notify.LeaseWarnings() // validated
	return sweep.Config{IdleAfter: cfg.Idle.StopAfter.D(), CPUPercent: cfg.Idle.CPUPercent, OnlyGPU: cfg.Idle.OnlyGPU,
		GPUPercent: cfg.Idle.GPUPercent, LeaseWarnings: warnings, IdleWarning: cfg.Notify.IdleWarning.D()}
}

// publicAddress is where users reach the published ports.
func publicAddress(cfg config.Config) string {
	if cfg.Ports.PublicAddress != "" {
		return cfg.Ports.PublicAddress
	}
	return cfg.Hostname
}

// PublicSSH is the "host:port" users reach the gateway's SSH at: the
// public address with the listener's port.
func PublicSSH(cfg config.Config) string {
	_, port, _ := net.SplitHostPort(cfg.SSH.Listen)
	return net.JoinHostPort(publicAddress(cfg), port)
}

// webBaseURL is where users reach the web listener: web.public_url, or
// one made from the listen address (the hostname for a wildcard one).
func webBaseURL(cfg config.Config) string {
	if cfg.Web.PublicURL != "" {
		return cfg.Web.PublicURL
	}
	host, port, _ := net.SplitHostPort(cfg.Web.Listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = cfg.Hostname
	}
	scheme := "http"
	if cfg.Web.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// appsBaseURL is where browsers reach the web apps' listener, nil when
// web apps are off: web.apps_public_url, or the web page's scheme and
// host with apps_listen's port; under apps_domain, that domain is the
// host.
func appsBaseURL(cfg config.Config) *url.URL {
	w := cfg.Web
	if w.Listen == "" || (w.AppsListen == "" && w.AppsDomain == "") {
		return nil
	}
	if w.AppsPublicURL != "" {
		u, _ := url.Parse(w.AppsPublicURL) // validated
		u.Path = ""
		return u
	}
	u, _ := url.Parse(webBaseURL(cfg)) // validated
	u.Path = ""
	host, port := u.Hostname(), u.Port()
	if w.AppsListen != "" {
		_, port, _ = net.SplitHostPort(w.AppsListen)
	}
	if w.AppsDomain != "" {
		host = w.AppsDomain
	}
	u.Host = host
	if port != "" && !(u.Scheme == "https" && port == "443") && !(u.Scheme == "http" && port == "80") {
		u.Host = net.JoinHostPort(host, port)
	}
	return u
}

// notifyConfig is where notices go; the mail password is read from its
// file here (at start and reload), and a file that does not read turns
// email off with a warning rather than stopping the gateway.
func notifyConfig(cfg config.Config, log *slog.Logger) notify.Config {
	n := cfg.Notify
	c := notify.Config{Webhook: n.Webhook, SMTP: notify.SMTP{Host: n.SMTP.Host, Port: n.SMTP.Port, From: n.SMTP.From,
		StartTLS: n.SMTP.StartTLS, User: n.SMTP.User}}
	if n.SMTP.Host != "" && n.SMTP.PasswordFile != "" {
		b, err := os.ReadFile(n.SMTP.PasswordFile)
		if err != nil {
			log.Warn("notify.smtp.password_file does not read; no email notices", "err", err)
			c.SMTP.Host = ""
		}
		c.SMTP.Password = strings.TrimRight(string(b), "\r\n")
	}
	return c
}
