package containers

import (
	"context"
	"errors"
)

// volumeMember is the cluster member a new volume of user's goes on: the
// one asked for, checked as --host is for a container (it exists, is
// online, is in the user's group), else the one a container of theirs
// would go to now, so that a launch with the volume finds room there. On
// a single host it is "".
func (s *Service) volumeMember(ctx context.Context, user, host string) (string, error) {
	ms, err := s.lxd.Members(ctx)
	if err != nil {
		return "", err
	}
	if ms == nil {
		if host != "" {
			return "", errors.New("this gateway's LXD is not a cluster; leave out --host")
		}
		return "", nil
	}
	group, err := s.groupOf(ctx, user)
	if err != nil {
		return "", err
	}
	if host != "" {
		_, err := s.placeOn(ctx, ms, host, group)
		return host, err
	}
	cands, err := s.candidates(ctx, ms, group)
	if err != nil {
		return "", err
	}
	return s.byMemory(ctx, cands).Host, nil
}
