package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	wall "github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/vclock"
)

// Defaults for Config.
const (
	DefaultWarnSiblings = 25
	DefaultMaxSiblings  = 100
	DefaultEpochLease   = 10000
	// DefaultMaxObjectBytes bounds a key's stored sibling set (its
	// encoded clock): eight values of the default 1 MiB limit. A write's
	// result is replicated whole and a read returns it whole, so every
	// request on the key costs this much on each replica; 27 siblings of
	// 1 MB made writes time out.
	DefaultMaxObjectBytes = 8 << 20
	// DefaultMaxClockActors bounds the actors of a clock a replica takes
	// from a peer: four times the actors a client's context may name
	// (vclock.DefaultMaxContextActors), so only a forged clock reaches it.
	DefaultMaxClockActors = 4 * vclock.DefaultMaxContextActors
	// DefaultSyncWindow lets concurrent writes share one WAL fsync: a sync
	// requested within this long of the previous one waits for the window to
	// end, so under load one fsync covers many writes. An idle store syncs
	// at once.
	DefaultSyncWindow = time.Millisecond
	// DefaultCacheSize is Pebble's block cache. Every write reads its key
	// first, so filter, index and data blocks are hot; Pebble's own 8 MiB
	// default makes most of those reads copy, checksum and decompress a
	// block from the page cache.
	DefaultCacheSize = 256 << 20
	// DefaultMemTableSize is Pebble's memtable. Larger ones flush less often
	// but make every read's skiplist seek slower (cache misses; figures in
	// docs/design.md, Data path).
	DefaultMemTableSize = 4 << 20
	// DefaultKeyFilterSize bounds the in-memory filter of written keys
	// (about 1.2 bytes a key at 1 % false positives; its layers double, so
	// some 30 million keys per node fit before false positives rise).
	DefaultKeyFilterSize = 64 << 20
	// DefaultMinFreeSpace is the free space below which the store refuses
	// writes: room left for Pebble to flush its memtables and compact, so
	// a filling disk refuses writes at once instead of stalling them.
	DefaultMinFreeSpace = 64 << 20
	// DefaultDiskCheckInterval is how often the free space is measured.
	DefaultDiskCheckInterval = 250 * time.Millisecond
	// DefaultLogInterval is the least time between two log lines of one
	// kind of repeated storage trouble (disk full, background errors).
	DefaultLogInterval = 10 * time.Second
	lockStripes        = 1024
)

// Config configures a Store.
type Config struct {
	// NodeID is the node's name; the data directory is bound to it.
	NodeID string
	// Dir is the Pebble directory.
	Dir string
	// FS overrides the file system (tests use vfs.NewCrashableMem). Nil means the OS.
	FS vfs.FS
	// OnChange, when set, is called with each key whose stored state a
	// write changed or a reap removed, once the change is visible to
	// reads (with the key's partition's log stripe held: it must be quick
	// and must not call the store). A dropped partition is not reported.
	OnChange func(key []byte)
	// NoSync trades durability for speed: writes are not fsynced. A node that
	// stops uncleanly in this mode takes a new incarnation on restart.
	NoSync bool
	// SyncWindow is the least time between two WAL fsyncs (group commit):
	// writes arriving sooner wait and share the next fsync. 0 means
	// DefaultSyncWindow; negative turns the window off (fsync at once).
	SyncWindow time.Duration
	// CacheSize is the block cache in bytes (0: DefaultCacheSize).
	CacheSize int64
	// MemTableSize is the memtable in bytes (0: DefaultMemTableSize).
	MemTableSize uint64
	// KeyFilterSize bounds, in bytes, the in-memory filter that lets writes
	// to new keys skip the storage read (0: DefaultKeyFilterSize). Past it
	// the filter stops growing and lets more reads through; it never
	// loses a key.
	KeyFilterSize int64
	// Partition maps a key to its partition. Required.
	Partition func(key []byte) int
	// WarnSiblings logs a warning when a client write leaves this many siblings.
	WarnSiblings int
	// MaxSiblings refuses client writes that would leave more siblings.
	MaxSiblings int
	// MaxObjectBytes refuses client writes whose result (the key's
	// encoded sibling set) would be larger and larger than what is stored
	// (a write that shrinks an object too large is taken). Merges from
	// peers are never refused on it.
	MaxObjectBytes int
	// MaxClockActors refuses a clock with more actors from a peer (a forged
	// one: nothing a client can send makes one) and a client write whose
	// result would have more.
	MaxClockActors int
	// EpochLease is how many per-key epochs are leased with one durable write.
	EpochLease uint64
	// Clock is the wall clock (tombstone ages); nil means the host's.
	Clock wall.Clock
	// Logger receives the store's logs. Nil means slog.Default().
	Logger *slog.Logger
	// MinFreeSpace is the reserve in bytes: while the data directory's file
	// system has less free space, writes fail at once with ErrDiskFull
	// (0: DefaultMinFreeSpace). It is what keeps Pebble working on a
	// filling disk: a write-ahead log that cannot be written stops the
	// store until a restart, so the reserve should hold a few memtables.
	MinFreeSpace int64
	// DiskCheckInterval is how often the free space is measured, and how
	// long a "no space left" keeps refusing writes (0:
	// DefaultDiskCheckInterval).
	DiskCheckInterval time.Duration
	// LogInterval is the least time between two log lines about one kind
	// of repeated storage trouble (0: DefaultLogInterval).
	LogInterval time.Duration
	// FreeSpace measures the free bytes of the data directory's file
	// system (nil: the file system's disk usage; tests inject their own).
	// An error of vfs.ErrUnsupported turns the reserve check off.
	FreeSpace func() (uint64, error)
}

func (c *Config) setDefaults() {
	if c.WarnSiblings == 0 {
		c.WarnSiblings = DefaultWarnSiblings
	}
	if c.MaxSiblings == 0 {
		c.MaxSiblings = DefaultMaxSiblings
	}
	if c.MaxObjectBytes == 0 {
		c.MaxObjectBytes = DefaultMaxObjectBytes
	}
	if c.MaxClockActors == 0 {
		c.MaxClockActors = DefaultMaxClockActors
	}
	if c.EpochLease == 0 {
		c.EpochLease = DefaultEpochLease
	}
	if c.SyncWindow == 0 {
		c.SyncWindow = DefaultSyncWindow
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = DefaultMemTableSize
	}
	if c.KeyFilterSize == 0 {
		c.KeyFilterSize = DefaultKeyFilterSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MinFreeSpace == 0 {
		c.MinFreeSpace = DefaultMinFreeSpace
	}
	if c.DiskCheckInterval == 0 {
		c.DiskCheckInterval = DefaultDiskCheckInterval
	}
	if c.LogInterval == 0 {
		c.LogInterval = DefaultLogInterval
	}
	c.Clock = wall.Or(c.Clock)
	if c.FS == nil {
		c.FS = vfs.Default
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("replica: NodeID is required")
	case c.Dir == "":
		return errors.New("replica: Dir is required")
	case c.Partition == nil:
		return errors.New("replica: Partition is required")
	case c.SyncWindow > time.Second:
		return fmt.Errorf("replica: SyncWindow %v is over a second", c.SyncWindow)
	case c.CacheSize < 0:
		return fmt.Errorf("replica: CacheSize %d is negative", c.CacheSize)
	case c.KeyFilterSize < 0:
		return fmt.Errorf("replica: KeyFilterSize %d is negative", c.KeyFilterSize)
	case c.MemTableSize > 4<<30:
		return fmt.Errorf("replica: MemTableSize %d is over 4 GiB", c.MemTableSize)
	case c.DiskCheckInterval < 0 || c.DiskCheckInterval > time.Minute:
		return fmt.Errorf("replica: DiskCheckInterval %v is negative or over a minute", c.DiskCheckInterval)
	case c.MinFreeSpace < 0:
		return fmt.Errorf("replica: MinFreeSpace %d is negative", c.MinFreeSpace)
	case c.LogInterval < 0:
		return fmt.Errorf("replica: LogInterval %v is negative", c.LogInterval)
	case c.MaxSiblings < 0 || c.WarnSiblings < 0:
		return errors.New("replica: sibling limits must not be negative")
	case c.MaxObjectBytes < 0 || c.MaxClockActors < 0:
		return errors.New("replica: object limits must not be negative")
	case c.MaxSiblings > 0 && c.WarnSiblings > c.MaxSiblings:
		return fmt.Errorf("replica: WarnSiblings %d exceeds MaxSiblings %d", c.WarnSiblings, c.MaxSiblings)
	}
	return nil
}

// syncWindow is the Pebble option for SyncWindow (nil: no window).
func (c *Config) syncWindow() func() time.Duration {
	if c.SyncWindow <= 0 {
		return nil
	}
	w := c.SyncWindow
	return func() time.Duration { return w }
}
