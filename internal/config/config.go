// Package config loads lxcgate's configuration: defaults, then one TOML
// file, then LXCGATE_* environment variables, then flags; validated once.
package config

import (
	_ "embed"
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
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
	Access     Access     `toml:"access"`
	Web        Web        `toml:"web"`
	Volumes    Volumes    `toml:"volumes"`
	Notify     Notify     `toml:"notify"`
	// Datasets are host directories offered to containers, by name.
	Datasets map[string]Dataset `toml:"datasets"`
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
	// Web apps in containers (port add --web, [ports.web]) are served
	// behind the sign-in: with AppsDomain, each on its own origin
	// LABEL--NAME--USER.AppsDomain (a wildcard DNS name and certificate);
	// otherwise under /USER/NAME/LABEL/ on AppsListen, a second listener
	// so that apps never share the gateway page's origin. Both empty: off.
	AppsDomain string `toml:"apps_domain"`
	AppsListen string `toml:"apps_listen"` // "HOST:PORT"; empty with apps_domain: the web listener serves them too
	// AppsPublicURL is where browsers reach the apps listener
	// ("https://gw.lab.example:8443"); default: web.public_url's scheme
	// and host with apps_listen's port.
	AppsPublicURL string   `toml:"apps_public_url"`
	AppsMaxBody   Size     `toml:"apps_max_body"` // largest request body (uploads)
	AppsTimeout   Duration `toml:"apps_timeout"`  // an app's answer to a request must begin within this
	// AppsPerUser bounds one user's requests under way (WebSockets
	// included) through the apps listener.
	AppsPerUser int `toml:"apps_per_user"`
}

// Notify configures the notices to members beyond the login banner.
type Notify struct {
	// Webhook receives a POST of JSON with a "text" field (Slack and
	// Mattermost take it as is); "" for none. It is a secret: never logged.
	Webhook string `toml:"webhook"`
	// LeaseWarning is how long before a lease runs out members are told,
	// comma-separated ("24h,1h"); IdleWarning, before an idle stop.
	LeaseWarning string     `toml:"lease_warning"`
	IdleWarning  Duration   `toml:"idle_warning"`
	SMTP         NotifySMTP `toml:"smtp"`
}

// NotifySMTP is the mail server notices go through to members' addresses.
type NotifySMTP struct {
	Host         string `toml:"host"` // "" for no email
	Port         int    `toml:"port"`
	From         string `toml:"from"`
	StartTLS     bool   `toml:"starttls"`      // refuse a server without STARTTLS
	User         string `toml:"user"`          // "" for no authentication
	PasswordFile string `toml:"password_file"` // the password, alone in a file
}

// LeaseWarnings parses lease_warning.
func (n Notify) LeaseWarnings() ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(n.LeaseWarning, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := units.ParseAge(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("notify.lease_warning %q: give spans such as \"24h,1h\"", n.LeaseWarning)
		}
		out = append(out, d)
	}
	return out, nil
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
	GPUPercent float64  `toml:"gpu_percent"` // a GPU at or over this counts as busy in 'usage'
	OnlyGPU    bool     `toml:"only_gpu"`
}

// Access configures logins straight into containers (ssh alice+box@gw).
type Access struct {
	// ContainerUser is who such a login runs as inside ("alice+box+root"
	// picks another).
	ContainerUser string `toml:"container_user"`
	// StartOnLogin starts a stopped container on such a login, within its
	// lease and the user's quota, instead of refusing it.
	StartOnLogin bool `toml:"start_on_login"`
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
	Web               map[string]int `toml:"web"`            // web apps of every container: label -> port
	Addresses         []string       `toml:"addresses"`      // match only these host addresses; empty: any local one
	ReconcileInterval Duration       `toml:"reconcile_interval"`
	ChainPrefix       string         `toml:"chain_prefix"` // lxcgate's chains: PREFIX-DNAT, PREFIX-FWD
	Backend           string         `toml:"backend"`      // auto, nftables or iptables
}

// URLs are the addresses in URL, in order: the gateway talks to the first
// that answers and moves to the next when it stops answering.
func (l LXD) URLs() []string {
	var out []string
	for _, u := range strings.Split(l.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
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
	URL        string `toml:"url"`         // https://HOST:8443, or several, comma-separated: the members to try in turn
	ServerCert string `toml:"server_cert"` // PEM file of the server's (cluster's) certificate, pinned
	ClientCert string `toml:"client_cert"` // PEM files; empty: DATA/lxd-client.crt and .key, made on first use
	ClientKey  string `toml:"client_key"`
	// MaxConcurrent bounds the heavy operations (create, start, stop,
	// delete, snapshot, restore) in flight per LXD daemon; the others
	// wait their turn, users in turn. 0: the host's CPUs, at least 2.
	MaxConcurrent int `toml:"max_concurrent"`
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
	Volumes    int  `toml:"volumes"` // volumes at most; their sizes count towards disk
}

// Limits is the default quota as the container service takes it.
func (q Quota) Limits() quota.Quota {
	return quota.Quota{Containers: q.Containers, CPU: q.CPU, Memory: int64(q.Memory), Disk: int64(q.Disk), GPUs: q.GPUs,
		Ports: q.Ports, Snapshots: q.Snapshots, Volumes: q.Volumes}
}

// GPU configures the GPU profile lxcgate keeps in LXD.
type GPU struct {
	Profile            string `toml:"profile"`
	NvidiaRuntime      bool   `toml:"nvidia_runtime"`
	DriverCapabilities string `toml:"driver_capabilities"`
	Shared             bool   `toml:"shared"` // let several containers hold one GPU
	// MIG offers the MIG devices of GPUs split into them (nvidia-smi -L)
	// as GPUs of their own, given as LXD mig devices.
	MIG bool `toml:"mig"`
	// The queue of launches waiting for GPUs (launch --queue): the user
	// with the fewest GPU-hours booked over FairshareWindow goes first; a
	// request waiting longer than StarvationAfter goes before all and
	// keeps freed GPUs until it starts; while anyone waits, a holder's
	// renew is capped at RenewWhileWaiting. "" turns each off.
	FairshareWindow   Span `toml:"fairshare_window"`
	StarvationAfter   Span `toml:"starvation_after"`
	RenewWhileWaiting Span `toml:"renew_while_waiting"`
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
		Quota:     Quota{Containers: 3, CPU: 8, Memory: Size(16 << 30), Disk: Size(50 << 30), GPUs: 1, Ports: 3, Snapshots: 20, Volumes: 5},
		GPU:       GPU{Profile: "lxcgate-nvidia", FairshareWindow: Span(7 * 24 * time.Hour), StarvationAfter: Span(6 * time.Hour), RenewWhileWaiting: Span(2 * time.Hour)},
		Snapshots: Snapshots{Keep: 5},
		Audit:     Audit{Retention: Age(180 * 24 * time.Hour), MaxRows: 1_000_000},
		Web:       Web{TrustedProxies: []string{}, AppsMaxBody: Size(1 << 30), AppsTimeout: Duration(time.Minute), AppsPerUser: 256},
		Volumes:   Volumes{Pool: "default", DefaultSize: Size(10 << 30), MaxSize: Size(1 << 40)},
		Datasets:  map[string]Dataset{},
		Idle:      Idle{CPUPercent: 2, GPUPercent: 5},
		Notify:    Notify{LeaseWarning: "24h,1h", IdleWarning: Duration(30 * time.Minute), SMTP: NotifySMTP{Port: 587, StartTLS: true}},
		Access:    Access{ContainerUser: "ubuntu"},
		Ports: Ports{Range: "20000-29999", Services: map[string]int{"ssh": 22}, Web: map[string]int{}, Addresses: []string{},
			ReconcileInterval: Duration(30 * time.Second), ChainPrefix: "LXCGATE", Backend: "auto"},
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
		if err := setField(f, s); err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
	}
	return nil
}

// setField parses one variable's text into a field of the kind it has.
func setField(f reflect.Value, s string) error {
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
	return err
}

// Encode writes c as TOML.
func (c Config) Encode() (string, error) {
	var b strings.Builder
	// Quoted: a directory name with a line break must not add TOML lines.
	b.WriteString("# effective configuration (data directory: " + strconv.Quote(c.Data) + ")\n")
	err := toml.NewEncoder(&b).Encode(c)
	return b.String(), err
}
