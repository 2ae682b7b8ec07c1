// Package mapping holds the plain values of port publishing: which host
// port leads to which container port. The containers service computes
// them from its database and the port mapper writes them as iptables
// rules; keeping them here lets the domain name them without depending on
// the iptables code.
package mapping

import "github.com/lxcgate/lxcgate/internal/ref"

// Mapping publishes one container port on one host port.
type Mapping struct {
	Owner         string
	Name          string
	Service       string
	HostPort      int
	IP            string // the container's IPv4 address
	ContainerPort int
}

// Ref names the container a mapping belongs to.
func (m Mapping) Ref() ref.Ref { return ref.Ref{Owner: m.Owner, Name: m.Name} }

// Desired is the state the chains should be in.
type Desired struct {
	Mappings []Mapping
	// Pending containers run but have no address yet: their source
	// watches them and tells the mapper when they have one.
	Pending []ref.Ref
	// Unknown containers are on a cluster member that does not answer:
	// their rules stay as they are until it answers and says otherwise.
	Unknown []ref.Ref
}
