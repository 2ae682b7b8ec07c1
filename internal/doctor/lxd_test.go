package doctor

import (
	"context"
	"errors"
	"testing"
)

type fakeLXD struct {
	version string
	err     error
	net     map[string]string
	gpus    int
}

func (f fakeLXD) ServerVersion(context.Context) (string, error) { return f.version, f.err }
func (f fakeLXD) NetworkConfig(context.Context, string) (map[string]string, error) {
	return f.net, f.err
}
func (f fakeLXD) GPUs(context.Context) (int, error) { return f.gpus, f.err }

func TestCheckLXD(t *testing.T) {
	ctx := context.Background()
	if c := CheckLXD(ctx, fakeLXD{version: "5.0.2"}); c.Status != OK {
		t.Fatalf("%+v", c)
	}
	if c := CheckLXD(ctx, fakeLXD{err: errors.New("no socket")}); c.Status != Fail {
		t.Fatalf("%+v", c)
	}
}

func TestCheckBridge(t *testing.T) {
	ctx := context.Background()
	ok := fakeLXD{net: map[string]string{"ipv4.nat": "false", "dns.mode": "none"}}
	if c := CheckBridge(ctx, ok, "lxdbr0", false); c.Status != OK {
		t.Fatalf("%+v", c)
	}
	if c := CheckBridge(ctx, ok, "lxdbr0", true); c.Status != Warn {
		t.Fatalf("nat mismatch: %+v", c)
	}
	dns := fakeLXD{net: map[string]string{"ipv4.nat": "false"}}
	if c := CheckBridge(ctx, dns, "lxdbr0", false); c.Status != Warn {
		t.Fatalf("dns: %+v", c)
	}
}

func TestCheckGPUs(t *testing.T) {
	ctx := context.Background()
	missing := func(string) (string, error) { return "", errors.New("not found") }
	found := func(string) (string, error) { return "/usr/bin/nvidia-container-cli", nil }
	if c := CheckGPUs(ctx, fakeLXD{gpus: 0}, false, missing); c.Status != OK {
		t.Fatalf("%+v", c)
	}
	if c := CheckGPUs(ctx, fakeLXD{gpus: 2}, true, missing); c.Status != Fail {
		t.Fatalf("%+v", c)
	}
	if c := CheckGPUs(ctx, fakeLXD{gpus: 2}, true, found); c.Status != OK {
		t.Fatalf("%+v", c)
	}
}
