package units

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"512MiB": 512 << 20, "2GiB": 2 << 30, "2G": 2 << 30, "1.5GiB": 3 << 29, "100MB": 100e6, "4096": 4096, "1 GiB": 1 << 30,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1GiB", "0", "GiB", "1e30GiB", "NaN", "NaNGiB", "Inf", "-Inf", "1e30"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	for n, want := range map[int64]string{2 << 30: "2GiB", 512 << 20: "512MiB", 3 << 29: "1536MiB", 100: "100B"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"180d": 180 * 24 * time.Hour, "0d": 0, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "1.5d", "-1d", "soon", "-5h"} {
		if _, err := ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) passed", bad)
		}
	}
}

func TestFormatApprox(t *testing.T) {
	for n, want := range map[int64]string{23632804 << 10: "22.5GiB", 512: "512B", 1536: "1.5KiB", 3 << 40: "3.0TiB"} {
		if got := FormatApprox(n); got != want {
			t.Errorf("FormatApprox(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{7 * 24 * time.Hour: "7d", 12 * time.Hour: "12h", 90 * time.Minute: "1h30m", 5 * time.Second: "5s", 0: "0s"} {
		if got := FormatAge(d); got != want {
			t.Errorf("FormatAge(%s) = %q, want %q", d, got, want)
		}
	}
}
