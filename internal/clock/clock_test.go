package clock

import (
	"testing"
	"time"
)

type fixed time.Time

func (f fixed) Now() time.Time { return time.Time(f) }

func TestOr(t *testing.T) {
	if _, ok := Or(nil).(Real); !ok {
		t.Fatalf("Or(nil) = %T, want Real", Or(nil))
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := Or(fixed(at)).Now(); !got.Equal(at) {
		t.Fatalf("Or(fixed).Now() = %v, want %v", got, at)
	}
	if d := time.Since(Real{}.Now()); d < 0 || d > time.Minute {
		t.Fatalf("Real is %v away from time.Now", d)
	}
}
