package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"github.com/lxcgate/lxcgate/internal/units"
)

// Validate checks the whole configuration and returns the first problem as
// one line naming the key.
func (c *Config) Validate() error {
	for _, check := range []func() error{c.validateServer, c.validateLXD, c.validateContainers, c.validatePorts, c.validateLog, c.validateLeases, c.validateVolumes, c.validateNotify} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

var containerUserRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// validateLeases checks [leases], [idle] and [access].
func (c *Config) validateLeases() error {
	switch {
	case c.Leases.Max > 0 && c.Leases.Default > c.Leases.Max:
		return fmt.Errorf("leases.default %s is longer than leases.max %s", units.FormatAge(c.Leases.Default.D()), units.FormatAge(c.Leases.Max.D()))
	case c.Idle.StopAfter < 0:
		return errors.New("idle.stop_after must be 0s (off) or positive")
	case c.Idle.CPUPercent <= 0 || c.Idle.CPUPercent > 100:
		return fmt.Errorf("idle.cpu_percent %g: give a share of one CPU between 0 and 100", c.Idle.CPUPercent)
	case !containerUserRE.MatchString(c.Access.ContainerUser):
		return fmt.Errorf("access.container_user %q: give a user name of the containers, such as ubuntu", c.Access.ContainerUser)
	}
	return nil
}

// validateLXD checks the [lxd] section: an https URL with a pinned
// server certificate, and client files given both or neither.
func (c *Config) validateLXD() error {
	l := c.LXD
	if l.URL == "" {
		return nil
	}
	for _, one := range l.URLs() {
		u, err := url.Parse(one)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("lxd.url %q: want https://HOST:8443, or several members' addresses separated by commas", one)
		}
	}
	if len(l.URLs()) == 0 {
		return fmt.Errorf("lxd.url %q: want https://HOST:8443", l.URL)
	}
	if l.ServerCert == "" {
		return errors.New("lxd.url needs lxd.server_cert, the cluster's certificate to pin (lxc info | sed -n '/BEGIN/,/END/p' on a member)")
	}
	if (l.ClientCert == "") != (l.ClientKey == "") {
		return errors.New("lxd.client_cert and lxd.client_key go together; leave both empty to use DATA/lxd-client.crt and .key")
	}
	return nil
}

// validateServer checks the data directory, the host name, and the ssh,
// auth and lobby sections.
func (c *Config) validateServer() error {
	if c.Data == "" {
		return errors.New("data directory is empty; set --data or LXCGATE_DATA")
	}
	if !hostnameRE.MatchString(c.Hostname) {
		return fmt.Errorf("hostname %q: give a host name or address", c.Hostname)
	}
	if _, port, err := net.SplitHostPort(c.SSH.Listen); err != nil || port == "" {
		return fmt.Errorf("ssh.listen %q: want HOST:PORT or :PORT", c.SSH.Listen)
	}
	for key, d := range map[string]Duration{
		"ssh.handshake_timeout": c.SSH.HandshakeTimeout, "ssh.drain_timeout": c.SSH.DrainTimeout,
		"containers.exec_timeout": c.Containers.ExecTimeout,
		"auth.failure_window":     c.Auth.FailureWindow, "auth.lockout": c.Auth.Lockout,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive", key)
		}
	}
	if c.SSH.IdleTimeout < 0 {
		return errors.New("ssh.idle_timeout must be 0 (none) or positive")
	}
	for key, n := range map[string]int{
		"ssh.max_sessions": c.SSH.MaxSessions, "ssh.max_sessions_per_user": c.SSH.MaxSessionsPerUser,
		"ssh.max_connections": c.SSH.MaxConnections, "auth.max_failures": c.Auth.MaxFailures,
		"ssh.max_unauthenticated_per_address": c.SSH.MaxUnauthPerAddress,
		"ssh.max_connections_per_address":     c.SSH.MaxConnectionsPerAddress,
		"ssh.max_channels_per_connection":     c.SSH.MaxChannelsPerConnection,
		"auth.max_concurrent_hashes":          c.Auth.MaxConcurrentHashes,
		"containers.max_cpu":                  c.Containers.MaxCPU,
		"auth.max_failures_per_address":       c.Auth.MaxFailuresPerAddress,
	} {
		if n <= 0 {
			return fmt.Errorf("%s must be at least 1", key)
		}
	}
	if l := c.Metrics.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			return fmt.Errorf("metrics.listen %q: want HOST:PORT or :PORT, or empty for off", l)
		}
	}
	if c.Audit.MaxRows < 0 {
		return errors.New("audit.max_rows must be 0 (no bound) or more")
	}
	if err := c.validateWeb(); err != nil {
		return err
	}
	if c.Lobby.Enabled && !validUserName(c.Lobby.Name) {
		return fmt.Errorf("lobby.name %q: use a unix user name", c.Lobby.Name)
	}
	return nil
}

// validateWeb checks the web section: an address, a URL whose links a
// browser can follow, and a certificate only with its key.
func (c *Config) validateWeb() error {
	w := c.Web
	if w.Listen != "" {
		if _, port, err := net.SplitHostPort(w.Listen); err != nil || port == "" {
			return fmt.Errorf("web.listen %q: want HOST:PORT or :PORT, or empty for off", w.Listen)
		}
	}
	if w.PublicURL != "" {
		u, err := url.Parse(w.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("web.public_url %q: want http(s)://HOST[:PORT][/PATH]", w.PublicURL)
		}
	}
	if (w.TLSCert == "") != (w.TLSKey == "") {
		return errors.New("web.tls_cert and web.tls_key go together: set both, or neither")
	}
	if _, err := ParsePrefixes(w.TrustedProxies); err != nil {
		return fmt.Errorf("web.trusted_proxies: %w", err)
	}
	return c.validateApps()
}

var appsDomainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// validateApps checks where web apps are served.
func (c *Config) validateApps() error {
	w := c.Web
	if w.AppsListen != "" {
		if _, port, err := net.SplitHostPort(w.AppsListen); err != nil || port == "" {
			return fmt.Errorf("web.apps_listen %q: want HOST:PORT or :PORT, or empty for off", w.AppsListen)
		}
	}
	if w.AppsDomain != "" && !appsDomainRE.MatchString(w.AppsDomain) {
		return fmt.Errorf("web.apps_domain %q: want a lower-case DNS name such as apps.gw.example", w.AppsDomain)
	}
	if w.AppsDomain != "" && w.AppsListen == "" && w.Listen == "" {
		return errors.New("web.apps_domain needs web.listen or web.apps_listen to serve the apps on")
	}
	if w.AppsPublicURL != "" {
		u, err := url.Parse(w.AppsPublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("web.apps_public_url %q: want http(s)://HOST[:PORT]", w.AppsPublicURL)
		}
	}
	if w.AppsMaxBody < 0 || w.AppsTimeout <= 0 || w.AppsPerUser < 1 {
		return errors.New("web.apps_max_body must be 0 or more, web.apps_timeout and web.apps_per_user more than 0")
	}
	if (w.AppsListen != "" || w.AppsDomain != "") && w.Listen == "" {
		return errors.New("web apps need web.listen: browsers sign in there")
	}
	for label, port := range c.Ports.Web {
		if !appLabelRE.MatchString(label) || strings.Contains(label, "--") || port < 1 || port > 65535 {
			return fmt.Errorf("ports.web: %s = %d: labels are lower-case words with single '-', ports 1-65535", label, port)
		}
		if _, dup := c.Ports.Services[label]; dup {
			return fmt.Errorf("ports.web: %s is also in ports.services; a label names one of them", label)
		}
	}
	return nil
}

var appLabelRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$`)

// ParsePrefixes parses CIDRs ("10.0.0.0/8") and single addresses (a /32
// or /128), as web.trusted_proxies lists them.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR such as 10.0.0.0/8", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// validateContainers checks the containers, gpu and quota sections.
func (c *Config) validateContainers() error {
	if c.Containers.DefaultImage == "" || c.Containers.ProjectPrefix == "" || c.GPU.Profile == "" {
		return errors.New("containers.default_image, containers.project_prefix and gpu.profile must not be empty")
	}
	if c.Containers.CPU <= 0 || c.Containers.Memory <= 0 || c.Containers.Disk <= 0 {
		return errors.New("containers.cpu, containers.memory and containers.disk must be positive")
	}
	if c.Containers.MaxMemory <= 0 || c.Containers.MaxDisk <= 0 {
		return errors.New("containers.max_memory and containers.max_disk must be positive")
	}
	if c.Containers.CPU > c.Containers.MaxCPU || c.Containers.Memory > c.Containers.MaxMemory || c.Containers.Disk > c.Containers.MaxDisk {
		return errors.New("containers.cpu, memory and disk must not exceed containers.max_cpu, max_memory and max_disk")
	}
	if c.Quota.Containers < 0 || c.Quota.CPU < 0 || c.Quota.Memory < 0 || c.Quota.Disk < 0 || c.Quota.GPUs < 0 {
		return errors.New("quota values must not be negative (0 means none allowed)")
	}
	return nil
}

// validatePorts checks the ports and snapshots sections.
func (c *Config) validatePorts() error {
	if _, _, err := c.Ports.PortRange(); err != nil {
		return err
	}
	for name, port := range c.Ports.Services {
		if !validUserName(name) || port < 1 || port > 65535 {
			return fmt.Errorf("ports.services: %s = %d: names are lowercase words, ports 1-65535", name, port)
		}
	}
	for _, a := range c.Ports.Addresses {
		if net.ParseIP(a).To4() == nil {
			return fmt.Errorf("ports.addresses: %q is not an IPv4 address", a)
		}
	}
	if c.Snapshots.Keep < 1 {
		return errors.New("snapshots.keep must be at least 1")
	}
	switch c.Ports.Backend {
	case "", "auto", "nftables", "iptables":
	default:
		return fmt.Errorf("ports.backend %q: use auto, nftables or iptables", c.Ports.Backend)
	}
	if !chainPrefixRE.MatchString(c.Ports.ChainPrefix) {
		return fmt.Errorf("ports.chain_prefix %q: use 1-20 capital letters, digits and '-', starting with a letter", c.Ports.ChainPrefix)
	}
	if c.Ports.ReconcileInterval <= 0 {
		return errors.New("ports.reconcile_interval must be positive")
	}
	return nil
}

// validateLog checks the log section.
func (c *Config) validateLog() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format %q: use text or json", c.Log.Format)
	}
	return nil
}

// hostnameRE admits host names and IPv4 or IPv6 addresses, nothing that
// would need quoting where the name is shown (prompts, ssh config blocks).
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,253}$`)

// chainPrefixRE keeps chain names (PREFIX-DNAT) within iptables' 28 bytes.
var chainPrefixRE = regexp.MustCompile(`^[A-Z][A-Z0-9-]{0,19}$`)

// validUserName mirrors users.ValidName without importing it: config is
// loaded before anything else exists.
func validUserName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// validateNotify checks [notify]: a webhook URL, the warnings, and a mail
// server with a sender and a readable password file.
func (c *Config) validateNotify() error {
	if c.LXD.MaxConcurrent < 0 {
		return errors.New("lxd.max_concurrent must be 0 (the host's CPUs) or more")
	}
	n := c.Notify
	if n.Webhook != "" {
		u, err := url.Parse(n.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("notify.webhook: want an http(s) URL")
		}
	}
	if _, err := n.LeaseWarnings(); err != nil {
		return err
	}
	if n.IdleWarning < 0 {
		return errors.New("notify.idle_warning must be 0s (off) or positive")
	}
	s := n.SMTP
	if s.Host == "" {
		return nil
	}
	switch {
	case s.Port < 1 || s.Port > 65535:
		return fmt.Errorf("notify.smtp.port %d: use 1-65535", s.Port)
	case s.From == "" || strings.ContainsAny(s.From, "\r\n"):
		return errors.New("notify.smtp.from: give the sender's address, e.g. lxcgate@lab.example")
	case s.User != "" && s.PasswordFile == "":
		return errors.New("notify.smtp.user needs notify.smtp.password_file")
	}
	return nil
}
