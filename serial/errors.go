package serial

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of a request. A request that fails with ErrOutcomeUnknown may
// have applied; every other failure is definite: nothing of it was
// applied.
var (
	// ErrOutcomeUnknown: an accept carrying the change was sent and no
	// quorum acknowledged it before the deadline; it may apply now, later
	// or never. A retry with the same operation id applies it at most once.
	ErrOutcomeUnknown = errors.New("serial: outcome unknown: an accept was sent and no quorum answered it; retry with the same op id")
	// ErrContended: rounds of other proposers refused every round of the
	// request until its deadline, before any accept of it was sent.
	ErrContended = errors.New("serial: contended: competing rounds refused every round until the deadline; nothing was applied")
	// ErrValueTooLarge: the request's value is over Config.MaxValue, or the
	// register's state would be over Config.MaxState.
	ErrValueTooLarge = errors.New("serial: value too large")
	// ErrInvalid: a request the proposer cannot run (an empty key, a lock
	// request without a name, holder or ttl).
	ErrInvalid = errors.New("serial: invalid request")
	// ErrClosed: the proposer is stopping.
	ErrClosed = errors.New("serial: proposer closed")
)

// UnavailableError: too few acceptors answered (unreachable, refusing for
// another reason than a ballot) until the deadline, and no accept of the
// request was sent; nothing was applied.
type UnavailableError struct {
	// Required and Acknowledged are the last round's: the acknowledgements
	// a quorum needs and those that came.
	Required, Acknowledged int
	// DiskFull lists the acceptors that refused for a full disk.
	DiskFull []string
	// NotReady lists the acceptors still repairing the partition.
	NotReady []string
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "serial: quorum unavailable: %d of %d acceptors answered; nothing was applied", e.Acknowledged, e.Required)
	if len(e.DiskFull) > 0 {
		fmt.Fprintf(&b, " (disk full: %s)", strings.Join(e.DiskFull, ", "))
	}
	if len(e.NotReady) > 0 {
		fmt.Fprintf(&b, " (repairing: %s)", strings.Join(e.NotReady, ", "))
	}
	return b.String()
}

// Definite reports whether err leaves the request's outcome known: every
// error but ErrOutcomeUnknown.
func Definite(err error) bool { return !errors.Is(err, ErrOutcomeUnknown) }
