package containers

import (
	"context"
	"io"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// API is the container service as the front ends (the shell and the web)
// call it, declared once here rather than once per front end. Service is
// the only implementation; it stays an interface because the shell's
// tests wrap a real Service to change what it answers. Every call that
// names a container takes the acting user: ownership is checked in every
// lookup, and another user's container is "no such container".
type API interface {
	Images(ctx context.Context) ([]lxd.Image, error)
	Create(ctx context.Context, user string, req CreateRequest) (Container, error)
	WaitAddress(ctx context.Context, user, name string) (Container, error)
	Start(ctx context.Context, user, name string) error
	Stop(ctx context.Context, user, name string, force bool) error
	Restart(ctx context.Context, user, name string) error
	Delete(ctx context.Context, user, name string, force bool) error
	Get(ctx context.Context, user, name string) (Container, error)
	List(ctx context.Context, user string, all bool) ([]Container, error)
	Names(ctx context.Context, user string) []string
	GPUs(ctx context.Context) ([]GPUInfo, error)
	GPUHistory(ctx context.Context, from time.Time) ([]GPUSpan, error)
	Quota(ctx context.Context, user string) (Quota, Usage, error)
	SetQuota(ctx context.Context, user string, ch QuotaChange) (Quota, error)
	Move(ctx context.Context, user, name, host string) error
	Hosts(ctx context.Context) ([]HostInfo, error)
	Renew(ctx context.Context, user, name string, d time.Duration) (time.Time, error)
	SetLease(ctx context.Context, user, name string, until time.Time) error
	Notices(ctx context.Context, user string, since time.Time, soon time.Duration) ([]Notice, error)

	// Published ports.
	PortAdd(ctx context.Context, user, name string, containerPort int, label string) (Port, error)
	AddWebApp(ctx context.Context, user, name string, containerPort int, label string) (Port, error)
	LaunchOrQueue(ctx context.Context, user string, req CreateRequest) (Container, QueuedLaunch, error)
	Queue(ctx context.Context, viewer string, all bool) ([]QueuedLaunch, error)
	QueueState(ctx context.Context, user, name string) (QueuedLaunch, error)
	CancelQueued(ctx context.Context, user, name string) error
	Told(ctx context.Context, user string)
	Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error)
	PortDel(ctx context.Context, user, name, label string) error

	// Reaching into containers: keys and passwords of the users inside.
	GenerateKey(ctx context.Context, user, name, login, typ string) (GeneratedKey, error)
	InstallKeys(ctx context.Context, user, name, login string, authorizedKeys []byte) ([]string, error)
	ContainerKeys(ctx context.Context, user, name, login string) ([]ContainerKey, error)
	RevokeKey(ctx context.Context, user, name, login, fingerprint string) error
	SetPassword(ctx context.Context, user, name, login, password string) error

	// Snapshots.
	TakeSnapshot(ctx context.Context, user, name, snap string, keep bool) (string, []string, error)
	Snapshots(ctx context.Context, user, name string) ([]SnapshotInfo, error)
	DeleteSnapshot(ctx context.Context, user, name, snap string) error
	Restore(ctx context.Context, user, name, snap string) error
	Clone(ctx context.Context, user, name, snap, newName, host string) (Container, error)
	AutoSnap(ctx context.Context, user, name, every, expiry string) error

	// Volumes (each user's, outliving containers) and the lab's datasets.
	CreateVolume(ctx context.Context, user, name string, size int64) (Volume, error)
	CreateVolumeOn(ctx context.Context, user, name, host string, size int64) (Volume, error)
	ListVolumes(ctx context.Context, user string) ([]Volume, error)
	GetVolume(ctx context.Context, user, name string) (Volume, error)
	VolumeNames(ctx context.Context, user string) []string
	AttachVolume(ctx context.Context, user, name, container, path string, readOnly bool) (Attachment, error)
	DetachVolume(ctx context.Context, user, name, container string) error
	ResizeVolume(ctx context.Context, user, name string, size int64) error
	DeleteVolume(ctx context.Context, user, name string) error
	SnapshotVolume(ctx context.Context, user, name, snap string, keep bool) (string, []string, error)
	VolumeSnapshots(ctx context.Context, user, name string) ([]SnapshotInfo, error)
	RestoreVolume(ctx context.Context, user, name, snap string) error
	ExportVolume(ctx context.Context, user, name string, w io.Writer) (int64, error)
	ImportVolume(ctx context.Context, user, name string, r io.Reader) (Volume, error)
	Datasets(user string) []DatasetInfo
}

var _ API = (*Service)(nil)
