package doctor

import (
	"context"
	"errors"
	"testing"
)

type fakeLXD struct {
	host Host
	err  error
	gpus int
}

func (f fakeLXD) Host(context.Context) (Host, error)        { return f.host, f.err }
func (f fakeLXD) GPUs(context.Context) (int, error)         { return f.gpus, f.err }
func (f fakeLXD) Members(context.Context) ([]Member, error) { return nil, f.err }

func TestCheckLXD(t *testing.T) {
	if c := CheckLXD(Host{Version: "5.0.2"}, nil); c.Status != OK {
		t.Fatalf("%+v", c)
	}
	if c := CheckLXD(Host{}, errors.New("no socket")); c.Status != Fail {
		t.Fatalf("%+v", c)
	}
}

func TestCheckBridge(t *testing.T) {
	ok := Host{Network: "lxdbr0", NetworkConfig: map[string]string{"ipv4.nat": "false", "dns.mode": "none"}}
	if c := CheckBridge(ok, false); c.Status != OK {
		t.Fatalf("%+v", c)
	}
	if c := CheckBridge(ok, true); c.Status != Warn {
		t.Fatalf("nat mismatch: %+v", c)
	}
	dns := Host{Network: "lxdbr0", NetworkConfig: map[string]string{"ipv4.nat": "false"}}
	if c := CheckBridge(dns, false); c.Status != Warn {
		t.Fatalf("dns: %+v", c)
	}
	if c := CheckBridge(Host{}, false); c.Status != Fail {
		t.Fatalf("no nic: %+v", c)
	}
	if c := CheckBridge(Host{Network: "eth1"}, false); c.Status != Fail {
		t.Fatalf("unmanaged: %+v", c)
	}
}

func TestCheckGPUs(t *testing.T) {
	ctx := context.Background()
	missing := func(string) (string, error) { return "", errors.New("not found") }
	found := func(string) (string, error) { return "/usr/bin/nvidia-container-cli", nil }
	if c := CheckGPUs(ctx, fakeLXD{gpus: 0}, false, missing); c.Status != Warn {
		t.Fatalf("%+v", c)
	}
	if c := CheckGPUs(ctx, fakeLXD{gpus: 2}, true, missing); c.Status != Fail {
		t.Fatalf("%+v", c)
	}
	if c := CheckGPUs(ctx, fakeLXD{gpus: 2}, true, found); c.Status != OK {
		t.Fatalf("%+v", c)
	}
}
