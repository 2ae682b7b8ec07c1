// Package config loads lxcgate's configuration: defaults, then one TOML
// file, then LXCGATE_* environment variables, then flags; validated once.
package config

import (
	_ "embed"
	"encoding"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/lxcgate/lxcgate/internal/quota"
	"github.com/lxcgate/lxcgate/internal/units"
)

// Config is the whole configuration. Field tags name the TOML keys; the
// environment variable for a key is LXCGATE_<SECTION>_<KEY> in upper case.
type Config struct {
	// Data is the directory of the database and the host key. It is set by
	// --data or LXCGATE_DATA, not by the file, so that the file may live
	// anywhere without moving the data.
	Data string `toml:"-"`

	Hostname   string     `toml:"hostname"`
	SSH        SSH        `toml:"ssh"`
	Auth       Auth       `toml:"auth"`
	Lobby      Lobby      `toml:"lobby"`
	Log        Log        `toml:"log"`
	LXD        LXD        `toml:"lxd"`
	Containers Containers `toml:"containers"`
	Quota      Quota      `toml:"quota"`
	GPU        GPU        `toml:"gpu"`
	Ports      Ports      `toml:"ports"`
	Snapshots  Snapshots  `toml:"snapshots"`
	Audit      Audit      `toml:"audit"`
	Metrics    Metrics    `toml:"metrics"`
	Leases     Leases     `toml:"leases"`
	Idle       Idle       `toml:"idle"`
	Web        Web        `toml:"web"`
}

// Web configures the status page and JSON API listener. Without TLS it is
// meant to sit behind a reverse proxy that terminates HTTPS.
type Web struct {
	Listen    string `toml:"listen"`     // "HOST:PORT"; empty: off
	PublicURL string `toml:"public_url"` // base of the links 'web' prints, e.g. "https://gw.lab.example"
	TLSCert   string `toml:"tls_cert"`   // PEM certificate file; with tls_key, serve HTTPS
	TLSKey    string `toml:"tls_key"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// X-Forwarded-For names the client; empty: the socket's peer is.
	TrustedProxies []string `toml:"trusted_proxies"`
}

// Metrics configures the monitoring listener (/metrics, /healthz, /readyz).
type Metrics struct {
	Listen string `toml:"listen"` // "HOST:PORT"; empty: off
}

// Audit configures the audit table.
type Audit struct {
	Retention Age `toml:"retention"` // rows older than this are deleted; 0: kept forever
	MaxRows   int `toml:"max_rows"`  // at most this many rows are kept, the newest; 0: no bound
}

// Leases configures container leases.
type Leases struct {
	Default Span `toml:"default"` // a new container's lease; "": none
	Max     Span `toml:"max"`     // the longest a user may ask for; "": no cap
}

// Idle configures the automatic stop of idle containers.
type Idle struct {
	StopAfter  Duration `toml:"stop_after"`  // 0: off
	CPUPercent float64  `toml:"cpu_percent"` // of one CPU
	OnlyGPU    bool     `toml:"only_gpu"`
}

// Snapshots configures snapshot history.
type Snapshots struct {
	Keep int `toml:"keep"` // unpinned snapshots kept per container
}

// Ports configures port publishing.
type Ports struct {
	PublicAddress     string         `toml:"public_address"` // shown to users; default: hostname
	Range             string         `toml:"range"`          // host ports, "FIRST-LAST"
	Services          map[string]int `toml:"services"`       // published for every container
	Addresses         []string       `toml:"addresses"`      // match only these host addresses; empty: any local one
	ReconcileInterval Duration       `toml:"reconcile_interval"`
	ChainPrefix       string         `toml:"chain_prefix"` // lxcgate's chains: PREFIX-DNAT, PREFIX-FWD
}

// PortRange returns the parsed host port range.
func (p Ports) PortRange() (int, int, error) {
	a, b, ok := strings.Cut(p.Range, "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return 0, 0, fmt.Errorf("ports.range %q: want FIRST-LAST within 1-65535", p.Range)
	}
	return first, last, nil
}

// LXD says how to reach LXD over HTTPS (a cluster, or a remote host);
// with URL empty, the unix socket (containers.lxd_socket) is used.
type LXD struct {
	URL        string `toml:"url"`         // https://HOST:8443
	ServerCert string `toml:"server_cert"` // PEM file of the server's (cluster's) certificate, pinned
	ClientCert string `toml:"client_cert"` // PEM files; empty: DATA/lxd-client.crt and .key, made on first use
	ClientKey  string `toml:"client_key"`
}

// Containers configures what a new container gets.
type Containers struct {
	DefaultImage  string   `toml:"default_image"`
	Images        []string `toml:"images"` // allowlist; empty: every image in LXD's store
	CPU           int      `toml:"cpu"`
	Memory        Size     `toml:"memory"`
	Disk          Size     `toml:"disk"`
	ProjectPrefix string   `toml:"project_prefix"`
	LXDSocket     string   `toml:"lxd_socket"`
	// Network is the managed bridge new containers' eth0 joins; empty:
	// the default profile's NIC.
	Network string `toml:"network"`
	// NAT says whether the bridge should masquerade containers' traffic;
	// doctor holds the bridge against it.
	NAT bool `toml:"nat"`
	// ExecTimeout bounds what lxcgate runs in a container (chpasswd).
	ExecTimeout Duration `toml:"exec_timeout"`
	// The most one create may ask for, whatever the quota says.
	MaxCPU    int  `toml:"max_cpu"`
	MaxMemory Size `toml:"max_memory"`
	MaxDisk   Size `toml:"max_disk"`
}

// Quota is the default per-user quota; admins change it per user. Its keys
// are quota.Fields' names (but hosts, which is per user only); a test holds
// them to the table.
type Quota struct {
	Containers int  `toml:"containers"`
	CPU        int  `toml:"cpu"`
	Memory     Size `toml:"memory"`
	Disk       Size `toml:"disk"`
	GPUs       int  `toml:"gpus"`
	Ports      int  `toml:"ports"` // ports a user may add to each container
	Snapshots  int  `toml:"snapshots"`
}

// Limits is the default quota as the container service takes it.
func (q Quota) Limits() quota.Quota {
	return quota.Quota{Containers: q.Containers, CPU: q.CPU, Memory: int64(q.Memory), Disk: int64(q.Disk), GPUs: q.GPUs,
		Ports: q.Ports, Snapshots: q.Snapshots}
}

// GPU configures the GPU profile lxcgate keeps in LXD.
type GPU struct {
	Profile            string `toml:"profile"`
	NvidiaRuntime      bool   `toml:"nvidia_runtime"`
	DriverCapabilities string `toml:"driver_capabilities"`
	Shared             bool   `toml:"shared"` // let several containers hold one GPU
}

// SSH configures the embedded SSH server.
type SSH struct {
	Listen             string   `toml:"listen"`
	HandshakeTimeout   Duration `toml:"handshake_timeout"`
	IdleTimeout        Duration `toml:"idle_timeout"`
	MaxSessions        int      `toml:"max_sessions"`
	MaxSessionsPerUser int      `toml:"max_sessions_per_user"`
	MaxConnections     int      `toml:"max_connections"`
	// Per source address (IPv6 grouped by /64): connections still
	// authenticating, and connections in all.
	MaxUnauthPerAddress      int      `toml:"max_unauthenticated_per_address"`
	MaxConnectionsPerAddress int      `toml:"max_connections_per_address"`
	MaxChannelsPerConnection int      `toml:"max_channels_per_connection"`
	DrainTimeout             Duration `toml:"drain_timeout"`
}

// Auth configures authentication and its brute-force defence.
type Auth struct {
	MaxFailures           int      `toml:"max_failures"`
	MaxFailuresPerAddress int      `toml:"max_failures_per_address"`
	FailureWindow         Duration `toml:"failure_window"`
	Lockout               Duration `toml:"lockout"`
	MaxConcurrentHashes   int      `toml:"max_concurrent_hashes"` // argon2 runs at once (19 MiB each)
	AdminKeys             []string `toml:"admin_keys"`
}

// Lobby configures the shared account that may only run login.
type Lobby struct {
	Enabled bool   `toml:"enabled"`
	Name    string `toml:"name"`
}

// Log configures the structured log on stderr.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "lxcgate"
	}
	return Config{
		Data:     "./data",
		Hostname: host,
		SSH: SSH{
			Listen:                   ":2222",
			HandshakeTimeout:         Duration(20 * time.Second),
			IdleTimeout:              Duration(30 * time.Minute),
			MaxSessions:              200,
			MaxSessionsPerUser:       10,
			MaxConnections:           400,
			MaxUnauthPerAddress:      32,
			MaxConnectionsPerAddress: 128,
			MaxChannelsPerConnection: 10,
			DrainTimeout:             Duration(30 * time.Second),
		},
		Auth: Auth{
			MaxFailures:           5,
			MaxFailuresPerAddress: 20,
			FailureWindow:         Duration(10 * time.Minute),
			Lockout:               Duration(5 * time.Minute),
			MaxConcurrentHashes:   4,
			AdminKeys:             []string{},
		},
		Lobby: Lobby{Enabled: false, Name: "lab"},
		Log:   Log{Level: "info", Format: "text"},
		Containers: Containers{
			DefaultImage: "lxcgate-debian", Images: []string{}, CPU: 2, Memory: Size(2 << 30), Disk: Size(10 << 30),
			ProjectPrefix: "lxcgate-", NAT: true,
			MaxCPU: 128, MaxMemory: Size(1 << 40), MaxDisk: Size(16 << 40), ExecTimeout: Duration(30 * time.Second),
		},
		Quota:     Quota{Containers: 3, CPU: 8, Memory: Size(16 << 30), Disk: Size(50 << 30), GPUs: 1, Ports: 3, Snapshots: 20},
		GPU:       GPU{Profile: "lxcgate-nvidia"},
		Snapshots: Snapshots{Keep: 5},
		Audit:     Audit{Retention: Age(180 * 24 * time.Hour), MaxRows: 1_000_000},
		Web:       Web{TrustedProxies: []string{}},
		Idle:      Idle{CPUPercent: 2},
		Ports: Ports{Range: "20000-29999", Services: map[string]int{"ssh": 22}, Addresses: []string{},
			ReconcileInterval: Duration(30 * time.Second), ChainPrefix: "LXCGATE"},
	}
}

//go:embed default.toml
var defaultFile string

// DefaultFile is a commented configuration file holding the defaults.
func DefaultFile() string { return defaultFile }

// Load builds the configuration from file (may be empty: no file) and the
// environment. Flags are applied by the caller, then Validate.
func Load(file string, env func(string) string) (Config, error) {
	c := Default()
	if file != "" {
		md, err := toml.DecodeFile(file, &c)
		if err != nil {
			return c, fmt.Errorf("config %s: %w", file, oneLine(err))
		}
		if und := md.Undecoded(); len(und) > 0 {
			return c, fmt.Errorf("config %s: unknown key %q; see 'lxcgate config --default'", file, und[0].String())
		}
	}
	if err := applyEnv(reflect.ValueOf(&c).Elem(), "LXCGATE", env); err != nil {
		return c, err
	}
	if v := env("LXCGATE_DATA"); v != "" {
		c.Data = v
	}
	return c, nil
}

func oneLine(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// The parser may quote the file's own bytes, a newline included.
		return fmt.Errorf("line %d: %s", pe.Position.Line, controlEscaper.Replace(pe.Message))
	}
	return errors.New(strings.SplitN(err.Error(), "\n", 2)[0])
}

var controlEscaper = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`)

// applyEnv walks the struct by its toml tags, so that every key in the file
// has its variable without a list to keep in step.
func applyEnv(v reflect.Value, prefix string, env func(string) string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			if err := applyEnv(f, name, env); err != nil {
				return err
			}
			continue
		}
		s := env(name)
		if s == "" {
			continue
		}
		// Every value ends up in text (the encoded file, logs, prompts):
		// bytes that are not printable UTF-8 are refused here, once.
		if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
			return fmt.Errorf("environment %s: use printable UTF-8 text", name)
		}
		var err error
		tu, isText := f.Addr().Interface().(encoding.TextUnmarshaler)
		switch {
		case isText:
			err = tu.UnmarshalText([]byte(s))
		case f.Kind() == reflect.String:
			f.SetString(s)
		case f.Kind() == reflect.Int:
			var n int
			if n, err = strconv.Atoi(s); err == nil {
				f.SetInt(int64(n))
			} else {
				err = fmt.Errorf("%q is not a whole number", s)
			}
		case f.Kind() == reflect.Float64:
			var v float64
			if v, err = strconv.ParseFloat(s, 64); err != nil {
				err = fmt.Errorf("%q is not a number", s)
			}
			f.SetFloat(v)
		case f.Kind() == reflect.Bool:
			var b bool
			if b, err = strconv.ParseBool(s); err == nil {
				f.SetBool(b)
			} else {
				err = fmt.Errorf("%q is not true or false", s)
			}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			parts := strings.Split(s, ",")
			for i := range parts {
				parts[i] = strings.TrimSpace(parts[i])
			}
			f.Set(reflect.ValueOf(parts))
		default:
			err = fmt.Errorf("cannot be set from the environment")
		}
		if err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
	}
	return nil
}

// Validate checks the whole configuration and returns the first problem as
// one line naming the key.
func (c *Config) Validate() error {
	for _, check := range []func() error{c.validateServer, c.validateLXD, c.validateContainers, c.validatePorts, c.validateLog, c.validateLeases} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateLeases checks [leases] and [idle].
func (c *Config) validateLeases() error {
	switch {
	case c.Leases.Max > 0 && c.Leases.Default > c.Leases.Max:
		return fmt.Errorf("leases.default %s is longer than leases.max %s", units.FormatAge(c.Leases.Default.D()), units.FormatAge(c.Leases.Max.D()))
	case c.Idle.StopAfter < 0:
		return errors.New("idle.stop_after must be 0s (off) or positive")
	case c.Idle.CPUPercent <= 0 || c.Idle.CPUPercent > 100:
		return fmt.Errorf("idle.cpu_percent %g: give a share of one CPU between 0 and 100", c.Idle.CPUPercent)
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
	u, err := url.Parse(l.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
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
	return nil
}

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

// Encode writes c as TOML.
func (c Config) Encode() (string, error) {
	var b strings.Builder
	// Quoted: a directory name with a line break must not add TOML lines.
	b.WriteString("# effective configuration (data directory: " + strconv.Quote(c.Data) + ")\n")
	err := toml.NewEncoder(&b).Encode(c)
	return b.String(), err
}
