package deadline

import (
	"context"
	"sync"
	"time"
)

// Shared makes contexts that end at their timeout rounded up to the next
// multiple of a slice of time (so up to one slice late), or when the parent
// ends. Calls whose deadlines round to the latest deadline handed out share
// that context; its cancel function does nothing, and it ends at its
// deadline. A call whose deadline rounds earlier than that one, or whose
// timeout is over the bound, gets a context of its own, which its cancel
// function frees. So shared contexts waiting for their deadline are at most
// one per slice over the bound.
type Shared struct {
	parent context.Context
	slice  time.Duration
	max    time.Duration
	now    func() time.Time

	mu     sync.Mutex
	end    time.Time
	cur    context.Context
	cancel context.CancelFunc // cur's; it ends at its deadline anyway
}

// NewShared shares contexts below parent among calls whose deadlines fall
// in the same slice of time, for timeouts up to max.
func NewShared(parent context.Context, slice, max time.Duration) *Shared {
	return &Shared{parent: parent, slice: slice, max: max, now: time.Now}
}

// WithTimeout returns a context that ends between d and d plus one slice
// from now, or when the parent ends, and the function to call once the
// caller is done with it.
func (s *Shared) WithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	if d > s.max {
		return context.WithTimeout(s.parent, d)
	}
	end := s.now().Add(d).Truncate(s.slice).Add(s.slice)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.cur != nil && s.end.Equal(end):
	case s.cur != nil && end.Before(s.end):
		return context.WithDeadline(s.parent, end)
	default:
		s.cur, s.cancel = context.WithDeadline(s.parent, end)
		s.end = end
	}
	return s.cur, func() {}
}
