package deadline

import (
	"context"
	"sync"
	"time"
)

// Shared makes contexts that end at their timeout rounded up to the next
// multiple of Slice (so up to one Slice late), or when the parent ends.
// Calls whose deadlines round to the same instant get the same context.
// Such a context cannot be cancelled early: use it only where an operation
// ends by finishing, not by cancelling its context.
type Shared struct {
	parent context.Context
	slice  time.Duration
	now    func() time.Time

	mu     sync.Mutex
	end    time.Time
	cur    context.Context
	cancel context.CancelFunc // cur's; it ends at its deadline anyway
}

// NewShared shares contexts below parent among calls whose deadlines fall
// in the same slice of time.
func NewShared(parent context.Context, slice time.Duration) *Shared {
	return &Shared{parent: parent, slice: slice, now: time.Now}
}

// WithTimeout returns a context that ends between d and d plus one slice
// from now, or when the parent ends.
func (s *Shared) WithTimeout(d time.Duration) context.Context {
	end := s.now().Add(d).Truncate(s.slice).Add(s.slice)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || !s.end.Equal(end) {
		s.cur, s.cancel = context.WithDeadline(s.parent, end)
		s.end = end
	}
	return s.cur
}
