package doctor

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// PortInUse tells whether a TCP port on the host already has a socket bound.
type PortInUse func(port int) bool

// BindProbe is the real PortInUse: a port is in use when it cannot be bound.
func BindProbe(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		return true
	}
	_ = l.Close()
	return false
}

// CheckPortRange warns naming the first n ports from first that are taken.
func CheckPortRange(first, last, n int, inUse PortInUse) Check {
	c := Check{Name: "host port range"}
	var busy []string
	for p := first; p <= last && p < first+n; p++ {
		if inUse(p) {
			busy = append(busy, strconv.Itoa(p))
		}
	}
	if len(busy) > 0 {
		c.Status = Warn
		c.Detail = fmt.Sprintf("ports %s of %d-%d already listen: move [ports] range or stop what holds them", strings.Join(busy, ","), first, last)
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%d-%d: first %d ports free", first, last, n)
	return c
}
