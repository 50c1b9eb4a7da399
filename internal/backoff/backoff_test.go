package backoff

import (
	"testing"
	"time"
)

func TestRedialGrowsToItsCap(t *testing.T) {
	p := Redial()
	var got []time.Duration
	for gap := time.Duration(0); len(got) < 6; {
		gap = p.Next(gap)
		got = append(got, gap)
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("gaps %v, want %v ms", got, want)
		}
	}
}
