package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
)

// Routed addresses in members' subnets are claimed in the database
// (routed_addresses), which gives an address to one container however many
// gateways share it: LXD does not check routed NICs without a parent. A
// create claims its address in plan, unbound; its reservation's insert
// binds the claim in the create's transaction (a trigger of the schema),
// and the claim then goes with the container's row, deleted or undone.
// A create that dies between claim and reservation leaves an unbound
// claim, dropped once older than claimGrace; reconcile brings the claims
// in line with what LXD's instances hold.

// addresses serialises this process's allocations, sparing the database's
// write lock a queue; between processes the database decides.
type addresses struct {
	mu sync.Mutex
}

// claimGrace is how long an unbound claim may wait for its reservation.
// A create reserves within seconds of its claim; one older than this died.
const claimGrace = 10 * time.Minute

// allocAddress claims a free address in the member's subnet for user's
// container name, skipping the network and broadcast addresses, the first
// host (a gateway's by custom) and those any instance in LXD holds. id is
// the container's row for a move (bound at once), 0 for a create (bound by
// its reservation). release gives a create's claim back unless the
// reservation bound it.
func (s *Service) allocAddress(ctx context.Context, m lxd.Member, user, name string, id store.ContainerID) (addr string, release func(), err error) {
	_, ipnet, err := net.ParseCIDR(m.Subnet)
	if err != nil || ipnet.IP.To4() == nil {
		return "", nil, fmt.Errorf("member %s: user.lxcgate.subnet %q is not an IPv4 CIDR", m.Name, m.Subnet)
	}
	subnet := ipnet.String()
	ins, err := s.lxd.List(ctx, "")
	if err != nil {
		return "", nil, err
	}
	inLXD := map[string]bool{}
	for _, in := range ins {
		if in.Routed != "" {
			inLXD[in.Routed] = true
		}
	}
	s.addrs.mu.Lock()
	defer s.addrs.mu.Unlock()
	err = store.Tx(ctx, s.db, func(q store.Querier) error {
		uid, err := s.userID(ctx, q, user)
		if err != nil {
			return err
		}
		if _, err := s.st.Routed.DeleteUnbound(ctx, q, subnet, time.Now().Add(-claimGrace)); err != nil {
			return fmt.Errorf("routed addresses: %w", err)
		}
		taken, err := s.st.Routed.Taken(ctx, q, subnet)
		if err != nil {
			return fmt.Errorf("routed addresses: %w", err)
		}
		if addr = freeAddress(ipnet, inLXD, taken); addr == "" {
			return fmt.Errorf("member %s: no free address left in %s; the admin must widen user.lxcgate.subnet", m.Name, m.Subnet)
		}
		err = s.st.Routed.Claim(ctx, q, store.RoutedAddress{Subnet: subnet, Address: addr, UserID: uid, Name: name,
			ContainerID: id, ClaimedAt: time.Now()})
		if errors.Is(err, store.ErrUnique) {
			return fmt.Errorf("member %s: another gateway took %s just now; try again", m.Name, addr)
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return addr, func() { s.unclaim(subnet, addr) }, nil
}

// freeAddress is the lowest host address of ipnet that neither LXD nor a
// claim holds; "" when none is left.
func freeAddress(ipnet *net.IPNet, inLXD, taken map[string]bool) string {
	ones, bits := ipnet.Mask.Size()
	size := uint32(1) << (bits - ones)
	base := ipv4Uint(ipnet.IP.To4())
	for i := uint32(2); i+1 < size; i++ {
		if a := uintIPv4(base + i).String(); !inLXD[a] && !taken[a] {
			return a
		}
	}
	return ""
}

// unclaim gives back a create's claim that no reservation bound.
func (s *Service) unclaim(subnet, addr string) {
	if err := s.st.Routed.Unclaim(context.Background(), s.db, subnet, addr); err != nil {
		s.log.Error("giving back a routed address failed; it is dropped after a while", "address", addr, "err", err)
	}
}

// settleMoveAddress keeps the claims of a moved container in line with
// its NIC: the new address alone after a move, the old one after a
// failure.
func (s *Service) settleMoveAddress(ctx context.Context, id store.ContainerID, subnet, addr string, moved bool) {
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return
	}
	if moved {
		err = s.st.Routed.KeepOnly(ctx, s.db, id, ipnet.String(), addr)
	} else if err = s.st.Routed.Delete(ctx, s.db, ipnet.String(), addr); errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	if err != nil {
		s.log.Error("routed address claims not updated after a move; the next reconcile does it", "address", addr, "err", err)
	}
}

// reconcileAddresses brings the claims in line with LXD: a claim an
// instance contradicts (it holds another address) goes, an address an
// instance holds without a claim (made before claims were recorded, or
// with the database restored) is claimed for it, and unbound claims past
// claimGrace go. Failures are logged; the next reconcile tries again.
func (s *Service) reconcileAddresses(ctx context.Context, ins []lxd.Instance) {
	ms, err := s.lxd.Members(ctx)
	if err != nil || ms == nil {
		return // a single host has no routed addresses
	}
	claims, err := s.st.Routed.List(ctx, s.db)
	if err != nil {
		s.log.Error("reconcile: reading routed addresses failed", "err", err)
		return
	}
	byKey := map[string]lxd.Instance{}
	for _, in := range ins {
		if strings.HasPrefix(in.Project, s.conf().Prefix) && in.Offline == "" {
			byKey[in.Project+"/"+in.Name] = in
		}
	}
	claimed := map[string]bool{}
	for _, c := range claims {
		in, ok := byKey[s.Project(c.Owner)+"/"+c.Name]
		if c.ContainerID != 0 && ok && in.Routed != c.Address {
			if err := s.st.Routed.Delete(ctx, s.db, c.Subnet, c.Address); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Error("reconcile: dropping a stale routed address failed", "address", c.Address, "err", err)
			}
			continue
		}
		claimed[c.Address] = true
	}
	s.adoptAddresses(ctx, ms, byKey, claimed)
	for _, m := range ms {
		if _, ipnet, err := net.ParseCIDR(m.Subnet); err == nil {
			if _, err := s.st.Routed.DeleteUnbound(ctx, s.db, ipnet.String(), time.Now().Add(-claimGrace)); err != nil {
				s.log.Error("reconcile: dropping unbound routed addresses failed", "subnet", m.Subnet, "err", err)
			}
		}
	}
}

// adoptAddresses claims, for its container's row, each routed address an
// instance holds in a member's subnet without a claim.
func (s *Service) adoptAddresses(ctx context.Context, ms []lxd.Member, byKey map[string]lxd.Instance, claimed map[string]bool) {
	rs, err := s.rows(ctx, "")
	if err != nil {
		s.log.Error("reconcile: reading containers for routed addresses failed", "err", err)
		return
	}
	for _, r := range rs {
		in, ok := byKey[s.Project(r.Owner)+"/"+r.Name]
		if !ok || in.Routed == "" || claimed[in.Routed] || r.State == store.StateDeleting {
			continue
		}
		subnet := subnetOf(ms, in.Routed)
		if subnet == "" {
			continue // outside every member's subnet: not lxcgate's to track
		}
		err := s.st.Routed.Claim(ctx, s.db, store.RoutedAddress{Subnet: subnet, Address: in.Routed, UserID: r.UserID,
			Name: r.Name, ContainerID: r.ID, ClaimedAt: time.Now()})
		if err != nil {
			s.log.Error("reconcile: claiming an instance's routed address failed", "owner", r.Owner, "name", r.Name, "address", in.Routed, "err", err)
			continue
		}
		s.log.Info("reconcile: claimed an instance's routed address", "owner", r.Owner, "name", r.Name, "address", in.Routed)
	}
}

// subnetOf is the member subnet (normalised) that holds addr, "" if none.
func subnetOf(ms []lxd.Member, addr string) string {
	ip := net.ParseIP(addr)
	for _, m := range ms {
		if _, ipnet, err := net.ParseCIDR(m.Subnet); err == nil && ip != nil && ipnet.Contains(ip) {
			return ipnet.String()
		}
	}
	return ""
}
