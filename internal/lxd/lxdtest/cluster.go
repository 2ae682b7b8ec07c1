package lxdtest

import (
	"context"
	"fmt"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

func (f *Fake) member(name string) *lxd.Member {
	for i := range f.Cluster {
		if f.Cluster[i].Name == name {
			return &f.Cluster[i]
		}
	}
	return nil
}

// Members lists the cluster's members; nil for a single host.
func (f *Fake) Members(context.Context) ([]lxd.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return nil, err
	}
	if f.Cluster == nil {
		return nil, nil
	}
	return append([]lxd.Member(nil), f.Cluster...), nil
}

// SetOnline marks a member online or offline, as a heartbeat would.
func (f *Fake) SetOnline(member string, online bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.member(member); m != nil {
		m.Online, m.Status = online, "Online"
		if !online {
			m.Status = "Offline"
		}
	}
}

// MemberResources returns a member's resources.
func (f *Fake) MemberResources(_ context.Context, member string) (lxd.Resources, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.up(); err != nil {
		return lxd.Resources{}, err
	}
	if m := f.member(member); m != nil && !m.Online {
		return lxd.Resources{}, lxd.ErrUnavailable
	}
	return f.Resources[member], nil
}

// Move moves a stopped instance to another member.
func (f *Fake) Move(_ context.Context, project, name, member string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, err := f.getIn(project, name, "move", false)
	if err != nil {
		return err
	}
	if m := f.member(member); m == nil || !m.Online {
		return fmt.Errorf("move %s: %w", name, lxd.ErrUnavailable)
	}
	in.Location = member
	f.Moves = append(f.Moves, key(project, name)+">"+member)
	return nil
}
