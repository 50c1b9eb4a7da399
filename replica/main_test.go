package replica

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (a store
// that was not closed keeps Pebble's background goroutines running).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
