package users

import (
	"context"
	"errors"
	"fmt"

	"github.com/lxcgate/lxcgate/internal/store"
)

// ErrOwnsVolumes: a user who owns volumes cannot be deleted; volumes
// outlive everything but their own 'volume delete'.
var ErrOwnsVolumes = errors.New("user owns volumes")

// ownsNothing refuses to delete a user who still owns containers or
// volumes, naming how many.
func (s *Store) ownsNothing(ctx context.Context, q store.Querier, uid store.UserID, name string) error {
	use, err := s.st.Containers.Usage(ctx, q, uid)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if use.Containers > 0 {
		return fmt.Errorf("%w: %s still owns %d container(s); delete them first", ErrOwnsContainers, name, use.Containers)
	}
	vols, _, err := s.st.Volumes.Usage(ctx, q, uid)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if vols > 0 {
		return fmt.Errorf("%w: %s still owns %d volume(s); delete them first", ErrOwnsVolumes, name, vols)
	}
	return nil
}
