// Package batch sends a stream's outgoing messages in batches without a
// goroutine of its own: the caller that finds no send in progress sends,
// and goes on sending whatever was added meanwhile, a batch at a time,
// until nothing is left; a caller that finds a send in progress only
// queues. After a failed send everything is dropped, so no caller blocks
// on a dead stream.
package batch

import "sync"

// Sender queues items and sends them in batches (see the package doc).
type Sender[T any] struct {
	send   func([]T) error // sends one batch
	take   func([]T) int   // how many queued items the next batch holds (≥ 1)
	onFail func()          // called once, after the first failed send (may be nil)

	mu      sync.Mutex
	queue   []T
	sending bool
	failed  bool
}

// NewSender returns a sender that sends batches with send; take says how
// many of the queued items go in one batch (nil: all of them), onFail runs
// once when a send first fails.
func NewSender[T any](send func([]T) error, take func([]T) int, onFail func()) *Sender[T] {
	if take == nil {
		take = func(q []T) int { return len(q) }
	}
	return &Sender[T]{send: send, take: take, onFail: onFail}
}

// Add queues item and, when no send is in progress, sends until the queue
// is empty.
func (s *Sender[T]) Add(item T) {
	s.mu.Lock()
	s.queue = append(s.queue, item)
	if s.sending {
		s.mu.Unlock()
		return
	}
	s.sending = true
	for len(s.queue) > 0 {
		n := min(max(1, s.take(s.queue)), len(s.queue))
		b := s.queue[:n:n]
		s.queue = s.queue[n:]
		failed := s.failed
		s.mu.Unlock()
		if !failed && s.send(b) != nil {
			failed = true
			if s.onFail != nil {
				s.onFail()
			}
		}
		s.mu.Lock()
		s.failed = s.failed || failed
	}
	s.queue = nil
	s.sending = false
	s.mu.Unlock()
}
