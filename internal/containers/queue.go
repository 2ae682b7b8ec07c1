package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// A launch whose GPUs are not free can wait in the queue: stored in the
// database, started by the dispatcher when GPUs free up, in fair-share
// order (the user with the fewest GPU-hours booked over the window
// first, then the oldest); a request waiting past the starvation time
// goes first and holds GPUs as they free until it can start.

// QueuedLaunch is a queue entry as its viewer may see it.
type QueuedLaunch struct {
	Position int        `json:"position"` // 1 is next; 0 once it left the line
	User     string     `json:"user"`     // masked as in 'gpus' for others
	Name     string     `json:"name"`     // "" for another user's
	GPUs     int        `json:"gpus"`
	Host     string     `json:"host,omitempty"` // the member asked for
	Since    time.Time  `json:"since"`
	Likely   *time.Time `json:"likely,omitempty"` // from the holders' leases; absent when unknown
	State    string     `json:"state"`            // waiting, starting, started, failed
	Detail   string     `json:"detail,omitempty"` // why it failed
	Starved  bool       `json:"starved,omitempty"`
}

// queuedRequest is a launch as the queue keeps it.
type queuedRequest struct {
	Name     string        `json:"name"`
	Image    string        `json:"image"`
	CPU      int           `json:"cpu"`
	Memory   int64         `json:"memory"`
	Disk     int64         `json:"disk"`
	GPU      string        `json:"gpu,omitempty"`
	GPUs     int           `json:"gpus,omitempty"`
	Host     string        `json:"host,omitempty"`
	Lease    time.Duration `json:"lease,omitempty"`
	Volumes  []VolumeMount `json:"volumes,omitempty"`
	Datasets []string      `json:"datasets,omitempty"`
	Stopped  bool          `json:"stopped,omitempty"` // create --queue: made, not started
}

func (q queuedRequest) create() CreateRequest {
	return CreateRequest{Name: q.Name, Image: q.Image, CPU: q.CPU, Memory: q.Memory, Disk: q.Disk, GPU: q.GPU, GPUs: q.GPUs,
		Host: q.Host, Lease: q.Lease, Volumes: q.Volumes, Datasets: q.Datasets, Start: !q.Stopped}
}

// ErrQueued is what a launch that went to the queue returns beside its entry.
var ErrQueued = errors.New("queued")

// LaunchOrQueue launches req, or, when its GPUs are not free now, puts it
// in the queue: then the entry and ErrQueued are returned.
func (s *Service) LaunchOrQueue(ctx context.Context, user string, req CreateRequest) (Container, QueuedLaunch, error) {
	if req.GPU == "" && req.GPUs == 0 {
		return Container{}, QueuedLaunch{}, errorf(ErrNoGPU, "", "--queue waits for GPUs: give --gpus N or --gpu LIST")
	}
	if q, err := s.waitingNamed(ctx, user, req.Name); err == nil {
		return Container{}, q, fmt.Errorf("%s is already queued (%s); 'queue cancel %s' withdraws it", req.Name, ordinal(q.Position), req.Name)
	}
	c, err := s.Create(ctx, user, req)
	if !errors.Is(err, ErrGPUHeld) {
		return c, QueuedLaunch{}, err
	}
	q, err := s.enqueue(ctx, user, req)
	if err != nil {
		return Container{}, QueuedLaunch{}, err
	}
	return Container{}, q, ErrQueued
}

// enqueue stores req as waiting, after the checks that do not depend on
// what is free: the name, the sizes, the image, that the user's GPU quota
// allows the GPUs at all, and that a host has that many.
func (s *Service) enqueue(ctx context.Context, user string, req CreateRequest) (QueuedLaunch, error) {
	if err := ValidName(req.Name); err != nil {
		return QueuedLaunch{}, err
	}
	if err := checkGPUCount(req); err != nil {
		return QueuedLaunch{}, err
	}
	if _, err := s.lookup(ctx, user, req.Name); err == nil {
		return QueuedLaunch{}, errorf(ErrExists, req.Name, "you already have a container named %s", req.Name)
	}
	n := req.GPUs
	if n == 0 {
		n = len(strings.Split(req.GPU, ","))
		if req.GPU == "all" {
			n = s.mostGPUs(ctx)
		}
	}
	if most := s.mostGPUs(ctx); n > most {
		return QueuedLaunch{}, errorf(ErrNoGPU, "", "%d GPUs: no host has that many (the most is %d); it would wait for ever", n, most)
	}
	quota, err := s.limitsOf(ctx, user)
	if err != nil {
		return QueuedLaunch{}, err
	}
	if n > quota.GPUs {
		return QueuedLaunch{}, fmt.Errorf("%w: %d GPUs, your limit is %d; ask an admin", ErrQuota, n, quota.GPUs)
	}
	// One user's requests in line are bounded by their container quota:
	// the dispatcher tries each at every pass, and the table must not
	// grow with names made up in a loop.
	if waiting, err := s.waitingOf(ctx, user); err != nil {
		return QueuedLaunch{}, err
	} else if waiting >= max(1, quota.Containers) {
		return QueuedLaunch{}, fmt.Errorf("%w: %d launches of yours already wait, as many as your containers limit; 'queue cancel' one first",
			ErrQuota, waiting)
	}
	if req.Image == "" {
		req.Image = s.conf().DefaultImage
	}
	if err := s.checkImage(req.Image); err != nil {
		return QueuedLaunch{}, err
	}
	body, err := json.Marshal(queuedRequest{Name: req.Name, Image: req.Image, CPU: req.CPU, Memory: req.Memory, Disk: req.Disk,
		GPU: req.GPU, GPUs: req.GPUs, Host: req.Host, Lease: req.Lease, Volumes: req.Volumes, Datasets: req.Datasets, Stopped: !req.Start})
	if err != nil {
		return QueuedLaunch{}, err
	}
	uid, err := s.userID(ctx, s.db, user)
	if err != nil {
		return QueuedLaunch{}, err
	}
	_, err = s.st.Queue.Insert(ctx, s.db, store.QueueEntry{UserID: uid, Name: req.Name, Request: string(body), GPUs: n,
		Host: req.Host, Created: time.Now()})
	if errors.Is(err, store.ErrUnique) {
		return QueuedLaunch{}, fmt.Errorf("%s is already queued; 'queue' shows it", req.Name)
	}
	if err != nil {
		return QueuedLaunch{}, fmt.Errorf("queue %s: %w", req.Name, err)
	}
	s.log.Info("launch queued", "user", user, "name", req.Name, "gpus", n)
	s.KickQueue()
	return s.waitingNamed(ctx, user, req.Name)
}

// mostGPUs is how many GPUs the largest host (or member) has.
func (s *Service) mostGPUs(ctx context.Context) int {
	gs, err := s.allGPUs(ctx)
	if err != nil {
		return 0
	}
	by := map[string]int{}
	most := 0
	for _, g := range gs {
		by[g.Host]++
		most = max(most, by[g.Host])
	}
	return most
}

// limitsOf is user's quota.
func (s *Service) limitsOf(ctx context.Context, user string) (Quota, error) {
	uid, err := s.userID(ctx, s.db, user)
	if err != nil {
		return Quota{}, err
	}
	return s.limits(ctx, s.db, uid)
}

// waitingOf counts user's entries waiting or starting.
func (s *Service) waitingOf(ctx context.Context, user string) (int, error) {
	es, err := s.st.Queue.List(ctx, s.db)
	if err != nil {
		return 0, fmt.Errorf("queue: %w", err)
	}
	n := 0
	for _, e := range es {
		if e.User == user && (e.State == store.QueueWaiting || e.State == store.QueueStarting) {
			n++
		}
	}
	return n, nil
}

// waitingNamed is user's entry of that name, waiting or starting.
func (s *Service) waitingNamed(ctx context.Context, user, name string) (QueuedLaunch, error) {
	list, err := s.Queue(ctx, user, false)
	if err != nil {
		return QueuedLaunch{}, err
	}
	for _, q := range list {
		if q.Name == name && q.User == user && (q.State == store.QueueWaiting || q.State == store.QueueStarting) {
			return q, nil
		}
	}
	return QueuedLaunch{}, errorf(ErrNoSuch, name, "nothing of yours named %s is queued", name)
}

// QueueState is user's entry of that name, whatever its state: for a
// launch that waits (--wait) to see it start or fail.
func (s *Service) QueueState(ctx context.Context, user, name string) (QueuedLaunch, error) {
	es, err := s.st.Queue.List(ctx, s.db)
	if err != nil {
		return QueuedLaunch{}, err
	}
	list, err := s.Queue(ctx, user, false)
	if err != nil {
		return QueuedLaunch{}, err
	}
	for _, q := range list {
		if q.Name == name && q.User == user {
			return q, nil
		}
	}
	for i := len(es) - 1; i >= 0; i-- {
		if e := es[i]; e.User == user && e.Name == name {
			return QueuedLaunch{User: user, Name: name, GPUs: e.GPUs, Host: e.Host, Since: e.Created, State: e.State, Detail: e.Detail}, nil
		}
	}
	return QueuedLaunch{}, errorf(ErrNoSuch, name, "nothing of yours named %s is queued", name)
}

// CancelQueued withdraws user's waiting launch name.
func (s *Service) CancelQueued(ctx context.Context, user, name string) error {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	es, err := s.st.Queue.List(ctx, s.db)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.User == user && e.Name == name && e.State == store.QueueWaiting {
			return s.st.Queue.Delete(ctx, s.db, e.ID)
		}
	}
	return errorf(ErrNoSuch, name, "nothing of yours named %s is queued", name)
}

// Queue lists the waiting launches in the order they would start: the
// viewer's own in full, others' with the user masked and no name (all,
// for admins, shows everyone's).
func (s *Service) Queue(ctx context.Context, viewer string, all bool) ([]QueuedLaunch, error) {
	es, err := s.st.Queue.List(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	now := time.Now()
	var waiting []store.QueueEntry
	for _, e := range es {
		if e.State == store.QueueWaiting || e.State == store.QueueStarting {
			waiting = append(waiting, e)
		}
	}
	if len(waiting) == 0 {
		return []QueuedLaunch{}, nil
	}
	ordered := fairOrder(waiting, s.bookedHours(ctx, now), now, s.conf().StarvationAfter)
	likely := s.likelyTimes(ctx, ordered)
	out := make([]QueuedLaunch, 0, len(ordered))
	for i, e := range ordered {
		q := QueuedLaunch{Position: i + 1, User: e.User, Name: e.Name, GPUs: e.GPUs, Host: e.Host, Since: e.Created.UTC(),
			State: e.State, Starved: starved(e, now, s.conf().StarvationAfter)}
		if !likely[i].IsZero() {
			t := likely[i].UTC()
			q.Likely = &t
		}
		if e.User != viewer && !all {
			q.User, q.Name, q.Host = AnotherUser, "", ""
		}
		out = append(out, q)
	}
	return out, nil
}

func starved(e store.QueueEntry, now time.Time, after time.Duration) bool {
	return after > 0 && now.Sub(e.Created) >= after
}

// fairOrder orders waiting entries: starved ones first, oldest first;
// then by their user's GPU-hours booked, fewest first, ties by arrival.
func fairOrder(es []store.QueueEntry, booked map[string]float64, now time.Time, starveAfter time.Duration) []store.QueueEntry {
	out := slices.Clone(es)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		sa, sb := starved(a, now, starveAfter), starved(b, now, starveAfter)
		switch {
		case sa != sb:
			return sa
		case sa:
			return a.Created.Before(b.Created)
		case booked[a.User] != booked[b.User]:
			return booked[a.User] < booked[b.User]
		}
		return a.Created.Before(b.Created)
	})
	return out
}

// bookedHours is each user's GPU-hours booked over the fair-share window,
// from the assignment history ("all" counts its host's GPUs).
func (s *Service) bookedHours(ctx context.Context, now time.Time) map[string]float64 {
	out := map[string]float64{}
	window := s.conf().FairshareWindow
	if window <= 0 {
		return out
	}
	from := now.Add(-window)
	as, err := s.st.GPUHistory.Since(ctx, s.db, from)
	if err != nil {
		s.log.Warn("queue: GPU history unknown; arrival order only", "err", err)
		return out
	}
	perHost := map[string]int{}
	if gs, err := s.allGPUs(ctx); err == nil {
		for _, g := range gs {
			perHost[g.Host]++
		}
	}
	for _, a := range as {
		start, end := a.Since, a.Until
		if start.Before(from) {
			start = from
		}
		if end.IsZero() || end.After(now) {
			end = now
		}
		if !end.After(start) {
			continue
		}
		n := 1.0
		if member, isAll := strings.CutSuffix(a.GPU, "all"); isAll {
			n = float64(max(1, perHost[strings.TrimSuffix(member, "/")]))
		}
		out[a.Owner] += n * end.Sub(start).Hours()
	}
	return out
}

// likelyTimes estimates when each ordered entry starts: the lease ends of
// the containers holding GPUs, earliest first, free GPUs enough for it
// and those ahead of it. Zero: unknown (holders without a lease).
func (s *Service) likelyTimes(ctx context.Context, ordered []store.QueueEntry) []time.Time {
	out := make([]time.Time, len(ordered))
	gs, err := s.GPUs(ctx)
	if err != nil {
		return out
	}
	free := 0
	holders := map[string]int{} // "owner/name" -> GPUs held
	for _, g := range gs {
		if len(g.Holders) == 0 {
			free++
		}
		for _, h := range g.Holders {
			holders[h]++
		}
	}
	rs, err := s.rows(ctx, "")
	if err != nil {
		return out
	}
	type end struct {
		at   time.Time
		gpus int
	}
	var ends []end
	for _, r := range rs {
		if n := holders[r.Owner+"/"+r.Name]; n > 0 && !r.LeaseUntil.IsZero() {
			ends = append(ends, end{r.LeaseUntil, n})
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].at.Before(ends[j].at) })
	need := 0
	for i, e := range ordered {
		need += e.GPUs
		if need <= free {
			out[i] = time.Now()
			continue
		}
		got := free
		for _, x := range ends {
			if got += x.gpus; got >= need {
				out[i] = x.at
				break
			}
		}
	}
	return out
}

// KickQueue asks the dispatcher to look at the queue now (GPUs may have
// been freed).
func (s *Service) KickQueue() {
	select {
	case s.queueKick <- struct{}{}:
	default:
	}
}

// RunQueue dispatches the queue until ctx ends: at once (finishing what
// a killed gateway left starting), on every kick, and every period.
func (s *Service) RunQueue(ctx context.Context, every time.Duration) {
	s.recoverQueue(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.DispatchQueue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.queueKick:
		}
	}
}

// queueEntries reads the queue for the dispatcher; a failure is logged,
// and the next kick or tick tries again.
func (s *Service) queueEntries(ctx context.Context) ([]store.QueueEntry, bool) {
	es, err := s.st.Queue.List(ctx, s.db)
	if err != nil {
		s.log.Warn("queue: cannot read it", "err", err)
		return nil, false
	}
	return es, true
}

// recoverQueue settles entries a killed gateway left starting: started
// when their container exists, waiting again otherwise. Never both,
// never lost.
func (s *Service) recoverQueue(ctx context.Context) {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	es, ok := s.queueEntries(ctx)
	if !ok {
		return
	}
	for _, e := range es {
		if e.State != store.QueueStarting {
			continue
		}
		state := store.QueueWaiting
		if r, err := s.lookup(ctx, e.User, e.Name); err == nil && r.State != store.StateDeleting {
			state = store.QueueStarted
		}
		if err := s.st.Queue.SetState(ctx, s.db, e.ID, state, "", time.Now()); err != nil {
			s.log.Warn("queue: settling an interrupted start failed", "user", e.User, "name", e.Name, "err", err)
		}
		s.log.Info("queue: an interrupted start settled", "user", e.User, "name", e.Name, "state", state)
	}
	_ = s.st.Queue.Prune(ctx, s.db, time.Now().Add(-7*24*time.Hour))
}

// DispatchQueue starts what can start, in fair-share order. A request that
// cannot start yet is passed over, unless it is starved: then nothing
// after it starts, so GPUs freed are kept for it.
func (s *Service) DispatchQueue(ctx context.Context) {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	es, ok := s.queueEntries(ctx)
	if !ok {
		return
	}
	var waiting []store.QueueEntry
	for _, e := range es {
		if e.State == store.QueueWaiting {
			waiting = append(waiting, e)
		}
	}
	if len(waiting) == 0 {
		return
	}
	now := time.Now()
	for _, e := range fairOrder(waiting, s.bookedHours(ctx, now), now, s.conf().StarvationAfter) {
		if ctx.Err() != nil {
			return
		}
		if !s.startQueued(ctx, e) && starved(e, now, s.conf().StarvationAfter) {
			return
		}
	}
}

// startQueued launches one entry; false when its GPUs are still held. A
// launch that fails for another reason (the user disabled, out of quota,
// the image withdrawn) ends the entry with its reason, for the notice.
func (s *Service) startQueued(ctx context.Context, e store.QueueEntry) bool {
	var qr queuedRequest
	if err := json.Unmarshal([]byte(e.Request), &qr); err != nil {
		s.endQueued(ctx, e, store.QueueFailed, "the queued request could not be read")
		return true
	}
	if u, err := s.st.Users.Get(ctx, s.db, e.User); err != nil || u.Disabled {
		s.endQueued(ctx, e, store.QueueFailed, "the account is disabled")
		return true
	}
	if err := s.st.Queue.SetState(ctx, s.db, e.ID, store.QueueStarting, "", time.Now()); err != nil {
		s.log.Warn("queue: marking a start failed", "user", e.User, "name", e.Name, "err", err)
		return false
	}
	_, err := s.Create(ctx, e.User, qr.create())
	switch {
	case err == nil:
		s.endQueued(ctx, e, store.QueueStarted, "")
		s.log.Info("queued launch started", "user", e.User, "name", e.Name, "waited", time.Since(e.Created).Round(time.Second))
		return true
	case errors.Is(err, ErrGPUHeld):
		if err := s.st.Queue.SetState(ctx, s.db, e.ID, store.QueueWaiting, "", time.Now()); err != nil {
			s.log.Warn("queue: putting a request back failed", "user", e.User, "name", e.Name, "err", err)
		}
		return false
	default:
		s.endQueued(ctx, e, store.QueueFailed, err.Error())
		s.log.Warn("queued launch failed", "user", e.User, "name", e.Name, "err", err)
		return true
	}
}

func (s *Service) endQueued(ctx context.Context, e store.QueueEntry, state, detail string) {
	if err := s.st.Queue.SetState(context.WithoutCancel(ctx), s.db, e.ID, state, detail, time.Now()); err != nil {
		s.log.Error("queue: recording the end of a request failed", "user", e.User, "name", e.Name, "err", err)
	}
	notify := s.notify
	if notify == nil {
		return
	}
	gpus := fmt.Sprintf("%d GPUs", e.GPUs)
	if e.GPUs == 1 {
		gpus = "1 GPU"
	}
	text := fmt.Sprintf("lxcgate: %s, queued for %s, was launched ('ssh GATEWAY details %s')", e.Name, gpus, e.Name)
	if state == store.QueueFailed {
		text = fmt.Sprintf("lxcgate: %s, queued for %s, could not be launched: %s", e.Name, gpus, detail)
	}
	notify(ctx, e.User, "queue", fmt.Sprintf("queue:%d", e.ID), text)
}

// queueNotices are user's queued launches that started or failed and of
// which they were not told yet.
func (s *Service) queueNotices(ctx context.Context, user string) ([]Notice, error) {
	es, err := s.st.Queue.List(ctx, s.db)
	if err != nil {
		return nil, err
	}
	var out []Notice
	for _, e := range es {
		if e.User != user {
			continue
		}
		switch e.State {
		case store.QueueStarted:
			out = append(out, Notice{Name: e.Name, Reason: NoticeQueueStarted, At: e.Done})
		case store.QueueFailed:
			out = append(out, Notice{Name: e.Name, Reason: NoticeQueueFailed, At: e.Done, Detail: e.Detail})
		}
	}
	return out, nil
}

// Told forgets the queue notices user was shown.
func (s *Service) Told(ctx context.Context, user string) {
	es, err := s.st.Queue.List(ctx, s.db)
	if err != nil {
		return
	}
	for _, e := range es {
		if e.User == user && (e.State == store.QueueStarted || e.State == store.QueueFailed) {
			_ = s.st.Queue.Delete(ctx, s.db, e.ID)
		}
	}
}

// Notice reasons of the queue.
const (
	NoticeQueueStarted = "queue-started"
	NoticeQueueFailed  = "queue-failed"
)

// ordinal is 1st, 2nd, 3rd, 4th...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// Ordinal is 1st, 2nd, 3rd, 4th..., for the front ends.
func Ordinal(n int) string { return ordinal(n) }

// queueState is the service's part of the queue.
type queueState struct {
	queueMu   sync.Mutex    // one dispatcher, cancel and recovery at a time
	queueKick chan struct{} // KickQueue's
}

// SetNotify makes queued launches' ends reach their owners beyond the
// login banner.
func (s *Service) SetNotify(n func(ctx context.Context, user, kind, dedupe, text string)) {
	s.notify = n
}
