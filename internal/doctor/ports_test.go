package doctor

import (
	"net"
	"strings"
	"testing"
)

func TestCheckPortRange(t *testing.T) {
	busy := map[int]bool{20002: true}
	c := CheckPortRange(20000, 20100, 10, func(p int) bool { return busy[p] })
	if c.Status != Warn || !strings.Contains(c.Detail, "20002") {
		t.Fatalf("busy: %+v", c)
	}
	if c := CheckPortRange(20000, 20100, 10, func(int) bool { return false }); c.Status != OK {
		t.Fatalf("free: %+v", c)
	}
}

func TestBindProbe(t *testing.T) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Skip(err)
	}
	defer l.Close()
	if !BindProbe(l.Addr().(*net.TCPAddr).Port) {
		t.Fatal("bound port reported free")
	}
}
