package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/quota"
)

func noEnv(string) string { return "" }

func TestDefaultFileMatchesDefault(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(f, []byte(DefaultFile()), 0o600)
	c, err := Load(f, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("default file gives\n%+v\nwant\n%+v", c, Default())
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFileThenEnv(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(f, []byte("hostname = \"gpu1\"\n[ssh]\nlisten = \"127.0.0.1:2300\"\nidle_timeout = \"5m\"\n"), 0o600)
	env := map[string]string{
		"LXCGATE_SSH_LISTEN":      ":2400",
		"LXCGATE_LOBBY_ENABLED":   "true",
		"LXCGATE_AUTH_ADMIN_KEYS": "ssh-ed25519 AAAA a, ssh-ed25519 BBBB b",
		"LXCGATE_DATA":            "/srv/lxcgate",
	}
	c, err := Load(f, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "gpu1" || c.SSH.Listen != ":2400" || c.SSH.IdleTimeout.D() != 5*time.Minute ||
		!c.Lobby.Enabled || len(c.Auth.AdminKeys) != 2 || c.Data != "/srv/lxcgate" {
		t.Fatalf("got %+v", c)
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ file, env, want string }{
		{"[ssh]\nlisen = \":1\"\n", "", `unknown key "ssh.lisen"`},
		{"[ssh]\nidle_timeout = \"soon\"\n", "", "not a duration"},
		{"[ssh\n", "", "line 2"},
		{"", "LXCGATE_SSH_MAX_SESSIONS=many", "LXCGATE_SSH_MAX_SESSIONS"},
	} {
		f := filepath.Join(dir, "c.toml")
		os.WriteFile(f, []byte(tc.file), 0o600)
		k, v, _ := strings.Cut(tc.env, "=")
		_, err := Load(f, func(s string) string {
			if s == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("file %q env %q: %v (want %q, one line)", tc.file, tc.env, err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, mut := range []func(*Config){
		func(c *Config) { c.SSH.Listen = "2222" },
		func(c *Config) { c.SSH.MaxSessions = 0 },
		func(c *Config) { c.Lobby.Enabled = true; c.Lobby.Name = "Lab Room" },
		func(c *Config) { c.Log.Level = "loud" },
		func(c *Config) { c.Auth.Lockout = 0 },
		func(c *Config) { c.Data = "" },
		func(c *Config) { c.Metrics.Listen = "9222" },
		func(c *Config) { c.Web.Listen = "8080" },
		func(c *Config) { c.Web.TLSCert = "/etc/cert.pem" },
		func(c *Config) { c.Web.TLSKey = "/etc/key.pem" },
		func(c *Config) { c.Web.PublicURL = "gw.lab.example" },
		func(c *Config) { c.Web.PublicURL = "javascript:alert(1)" },
		func(c *Config) { c.Web.TrustedProxies = []string{"10.0.0.0/33"} },
		func(c *Config) { c.Web.TrustedProxies = []string{"proxy.lan"} },
		func(c *Config) { c.Audit.MaxRows = -1 },
		func(c *Config) {
			c.Datasets = map[string]Dataset{"imagenet": {Source: "/srv/in", Path: "/data/in", Members: []string{"member1", "../m2"}}}
		},
	} {
		c := Default()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

func TestWebListen(t *testing.T) {
	env := map[string]string{"LXCGATE_WEB_LISTEN": "127.0.0.1:8080", "LXCGATE_WEB_PUBLIC_URL": "https://gw.lab.example"}
	c, err := Load("", func(k string) string { return env[k] })
	if err != nil || c.Web.Listen != "127.0.0.1:8080" || c.Web.PublicURL != "https://gw.lab.example" || c.Validate() != nil {
		t.Fatalf("LXCGATE_WEB_*: %+v %v %v", c.Web, err, c.Validate())
	}
	if Default().Web.Listen != "" {
		t.Fatal("the web listener must be off by default")
	}
	// Trusted proxies: none by default; CIDRs and addresses from the environment.
	env["LXCGATE_WEB_TRUSTED_PROXIES"] = "10.0.0.0/8, 192.0.2.1, ::1"
	c, err = Load("", func(k string) string { return env[k] })
	if err != nil || c.Validate() != nil || len(Default().Web.TrustedProxies) != 0 {
		t.Fatalf("trusted proxies: %+v %v %v", c.Web, err, c.Validate())
	}
	if p, err := ParsePrefixes(c.Web.TrustedProxies); err != nil || len(p) != 3 || p[1].String() != "192.0.2.1/32" || p[2].Bits() != 128 {
		t.Fatalf("ParsePrefixes: %v %v", p, err)
	}
}

func TestMetricsListen(t *testing.T) {
	c, err := Load("", func(k string) string {
		if k == "LXCGATE_METRICS_LISTEN" {
			return "127.0.0.1:9222"
		}
		return ""
	})
	if err != nil || c.Metrics.Listen != "127.0.0.1:9222" || c.Validate() != nil {
		t.Fatalf("LXCGATE_METRICS_LISTEN: %+v %v %v", c.Metrics, err, c.Validate())
	}
	if Default().Metrics.Listen != "" {
		t.Fatal("the metrics listener must be off by default")
	}
}

func TestLeasesAndIdle(t *testing.T) {
	env := map[string]string{"LXCGATE_LEASES_DEFAULT": "7d", "LXCGATE_LEASES_MAX": "30d", "LXCGATE_IDLE_STOP_AFTER": "4h",
		"LXCGATE_IDLE_CPU_PERCENT": "1.5", "LXCGATE_DATA": "/tmp/x"}
	c, err := Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Leases.Default.D() != 7*24*time.Hour || c.Leases.Max.D() != 30*24*time.Hour || c.Idle.StopAfter.D() != 4*time.Hour || c.Idle.CPUPercent != 1.5 {
		t.Fatalf("%+v %+v", c.Leases, c.Idle)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"LXCGATE_LEASES_DEFAULT": "60d", "LXCGATE_IDLE_CPU_PERCENT": "0", "LXCGATE_IDLE_STOP_AFTER": "-1s"} {
		bad := map[string]string{"LXCGATE_LEASES_MAX": "30d", "LXCGATE_DATA": "/tmp/x", k: v}
		c, err := Load("", func(k string) string { return bad[k] })
		if err == nil {
			err = c.Validate()
		}
		if err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}

// The [quota] keys are the quota table's fields (but hosts, per user
// only), and Limits carries each of them.
func TestQuotaKeysFollowTheTable(t *testing.T) {
	typ := reflect.TypeOf(Quota{})
	var q Quota
	v := reflect.ValueOf(&q).Elem()
	keys := map[string]int64{}
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("toml")
		keys[key] = int64(i + 1)
		v.Field(i).SetInt(int64(i + 1))
	}
	got := q.Limits()
	for _, f := range quota.Fields {
		if f.Kind == quota.Group {
			continue
		}
		n, ok := keys[f.Name]
		if !ok {
			t.Errorf("quota field %s has no [quota] key", f.Name)
		} else if f.Get(got) != n {
			t.Errorf("Limits lost %s: %d, want %d", f.Name, f.Get(got), n)
		}
		delete(keys, f.Name)
	}
	if len(keys) > 0 {
		t.Errorf("[quota] keys outside the table: %v", keys)
	}
}

// [lxd] url takes one address or every member's, comma-separated; each
// must be https.
func TestLXDURLs(t *testing.T) {
	c := Default()
	c.LXD.URL, c.LXD.ServerCert = " https://10.0.0.1:8443, https://10.0.0.2:8443 ,", "/etc/lxcgate/cluster.crt"
	if got := c.LXD.URLs(); len(got) != 2 || got[0] != "https://10.0.0.1:8443" || got[1] != "https://10.0.0.2:8443" {
		t.Fatalf("URLs: %q", got)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.LXD.URL = "https://10.0.0.1:8443,http://10.0.0.2:8443"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"http://10.0.0.2:8443"`) {
		t.Fatalf("a plain http member: %v", err)
	}
	c.LXD.URL = " , "
	if err := c.Validate(); err == nil {
		t.Fatal("a url of commas alone")
	}
}
