package bench

import (
	"context"
	"errors"
	"net"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Driver is one connection to the store under test. A run shares each driver
// among several clients, so it must be safe for concurrent use.
type Driver interface {
	// Get reads key. A key that does not exist is not an error: it returns
	// Found false and a nil error.
	Get(ctx context.Context, key []byte) (Result, error)
	// Put writes value. token is what an earlier Get of the key returned
	// (a read-modify-write passes it back), or empty: then the driver
	// overwrites as best it can (quorumkv: with the last context it saw for
	// the key, see QuorumkvOptions.Contexts).
	Put(ctx context.Context, key, value []byte, token Token) (Result, error)
	Close() error
}

// Token is a driver's opaque version of a key: the causal context
// (quorumkv), the mod revision (etcd); empty when the store has none.
type Token string

// Result is what a Get or Put saw.
type Result struct {
	// Found: a Get found a live value.
	Found bool
	// Values is the number of values (quorumkv siblings) a Get returned or a
	// Put left; 0 or 1 for stores without siblings.
	Values int
	// Token is the key's version after the operation.
	Token Token
}

// Error classes of failed operations. A read of a missing key is no error: it
// is counted as not found.
const (
	ClassUnavailable = "unavailable"
	ClassTimeout     = "timeout"
	ClassOther       = "other"
)

// ErrorClasses lists the error classes in report order.
var ErrorClasses = []string{ClassUnavailable, ClassTimeout, ClassOther}

// ErrUnavailable marks a failure to reach the required replicas: a quorum not
// met, a redis WAIT that saw too few replicas, no etcd leader. Drivers wrap
// their own errors with it.
var ErrUnavailable = errors.New("unavailable")

// Classify names err's class.
func Classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, ErrUnavailable):
		return ClassUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.DeadlineExceeded:
			return ClassTimeout
		case codes.Unavailable:
			return ClassUnavailable
		}
	}
	return ClassOther
}

func classIndex(class string) int {
	switch class {
	case ClassUnavailable:
		return 0
	case ClassTimeout:
		return 1
	}
	return 2
}
