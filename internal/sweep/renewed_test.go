package sweep

import (
	"context"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// renewingSource answers a stop as the service does for a lease renewed
// since the pass read it.
type renewingSource struct{ fakeSource }

func (r *renewingSource) AutoStop(context.Context, ref.Ref, string) error {
	return &containers.Error{Kind: containers.ErrRenewed, Name: "box", Msg: "box was renewed meanwhile"}
}

// Scenario (issue 19, item 6): a renew during a pass wins; the pass
// counts no stop and records no failed one.
func TestRenewDuringPassIsNoFailure(t *testing.T) {
	src := &renewingSource{}
	s, c, rec := newSweeper(src, fakeConns{}, nil, Config{})
	box := item("box", true)
	box.LeaseUntil = c.now().Add(-time.Second)
	src.items = []containers.SweepItem{box}
	res, err := s.Pass(context.Background())
	if err != nil || res.Expired != 0 || len(rec.rows) != 0 {
		t.Fatalf("pass: %+v %v, audit %+v", res, err, rec.rows)
	}
}
