package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them (a
// stream's sender or receiver, a dialer) once every client is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
