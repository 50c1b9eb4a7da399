package lease

import (
	"errors"
	"fmt"
	"strconv"
)

// ID names a lease: 64 random bits, never 0.
type ID uint64

// ErrBadID: a lease identifier that is not 1–16 hexadecimal digits or is 0.
var ErrBadID = errors.New("bad lease id")

// String is the id as 16 lower-case hexadecimal digits, the form the CLI
// prints and reads.
func (id ID) String() string { return fmt.Sprintf("%016x", uint64(id)) }

// ParseID reads an id as String writes it (leading zeros optional).
func ParseID(s string) (ID, error) {
	if len(s) == 0 || len(s) > 16 {
		return 0, fmt.Errorf("%w %q: want 1 to 16 hexadecimal digits", ErrBadID, s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: want hexadecimal digits", ErrBadID, s)
	}
	if v == 0 {
		return 0, fmt.Errorf("%w: 0 is no lease", ErrBadID)
	}
	return ID(v), nil
}
