package containers

import (
	"context"
	"fmt"
	"io"

	"github.com/lxcgate/lxcgate/internal/units"
)

// importCap is the most an import's stream may carry: the largest volume
// the caller could keep (max_size, and the room left in their disk quota
// with the import's own reservation), plus room for the tarball's headers
// and gzip's worst case. Without it a user streams as much as they like
// into LXD's backup directory on the host before the quota is checked.
// 0 is no cap (neither limit set).
func (s *Service) importCap(ctx context.Context, user string, reserved int64) int64 {
	limit := s.conf().VolumeMaxSize
	if q, u, err := s.Quota(ctx, user); err == nil && q.Disk > 0 {
		room := q.Disk - u.Disk + reserved
		if limit == 0 || room < limit {
			limit = room
		}
	}
	if limit <= 0 {
		return limit
	}
	return limit + limit/64 + 1<<20
}

// cappedReader fails a read once more than max bytes came through.
type cappedReader struct {
	r    io.Reader
	left int64
	max  int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, c.tooLarge()
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, c.tooLarge()
	}
	return n, err
}

func (c *cappedReader) tooLarge() error {
	return fmt.Errorf("%w: the stream is larger than %s, the most you may import (your disk quota and [volumes] max_size); nothing was kept",
		ErrQuota, units.FormatSize(c.max))
}
