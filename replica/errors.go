package replica

import (
	"errors"
	"fmt"
)

// ErrWrongNode is returned when a data directory belongs to another node.
var ErrWrongNode = errors.New("replica: data directory belongs to another node")

// ErrBadWrite wraps a client write that cannot be applied (a context that is
// invalid against the stored object).
var ErrBadWrite = errors.New("replica: write rejected")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("replica: store is closed")

// TooManySiblingsError refuses a client write that would leave more siblings
// than the cap. Nothing was stored and no dot was minted.
type TooManySiblingsError struct {
	Siblings int
	Max      int
}

func (e *TooManySiblingsError) Error() string {
	return fmt.Sprintf("write would leave %d siblings (limit %d); read the key, resolve the siblings and write back with the context", e.Siblings, e.Max)
}
