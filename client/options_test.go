package client

import (
	"math"
	"testing"
)

// TestCountNeverWraps: a count the wire's 32 bits cannot hold travels as
// the largest one (every node refuses it as more than N), never as the low
// bits (4294967297 would be W=1).
func TestCountNeverWraps(t *testing.T) {
	for _, tc := range []struct {
		count int
		want  uint32
	}{{0, 0}, {3, 3}, {math.MaxUint32, math.MaxUint32}, {1<<32 + 1, math.MaxUint32}, {-1, math.MaxUint32}} {
		if got := newCall([]CallOption{WithCount(tc.count)}).consistency().GetCount(); got != tc.want {
			t.Errorf("WithCount(%d) sends %d, want %d", tc.count, got, tc.want)
		}
	}
}
