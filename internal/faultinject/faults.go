package faultinject

import (
	"fmt"
	"time"

	"github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/vclock"
)

// The bugs a fault test can ask a node for.
const (
	// BugSkipApply acknowledges peers' replica writes without storing them.
	BugSkipApply = "skip-apply"
	// BugDropHints acknowledges hints without keeping them.
	BugDropHints = "drop-hints"
)

// CheckBug reports a bug name that is neither empty nor known.
func CheckBug(bug string) error {
	switch bug {
	case "", BugSkipApply, BugDropHints:
		return nil
	}
	return fmt.Errorf("faultinject: unknown test bug %q (want %s or %s)", bug, BugSkipApply, BugDropHints)
}

// ReplicaWrites is the part of a replica store peers' writes reach.
type ReplicaWrites interface {
	Apply(key []byte, c vclock.Clock) (vclock.Clock, bool, error)
	ApplyMany(items []replica.Item) []error
}

// SkipApply acknowledges every write without passing it on.
type SkipApply struct{ ReplicaWrites }

// Apply stores nothing and reports success.
func (SkipApply) Apply([]byte, vclock.Clock) (vclock.Clock, bool, error) {
	return vclock.Clock{}, false, nil
}

// ApplyMany stores nothing; it reports no item's key as applied.
func (SkipApply) ApplyMany(items []replica.Item) []error {
	return nil
}

// DropHints acknowledges hints without keeping them.
type DropHints struct{}

// Add keeps nothing and reports success.
func (DropHints) Add(string, []byte, vclock.Clock) error { return nil }

// Offset is a wall clock skewed by D (clocks differ between hosts).
type Offset struct {
	Clock clock.Clock
	D     time.Duration
}

// Now is the wrapped clock's time plus D.
func (o Offset) Now() time.Time { return clock.Or(o.Clock).Now().Add(o.D) }
