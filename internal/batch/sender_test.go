package batch

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestSenderSendsEverythingInOrderOnce: items added from many goroutines
// are each sent once, and one goroutine's items keep their order.
func TestSenderSendsEverythingInOrderOnce(t *testing.T) {
	var mu sync.Mutex
	var sent [][2]int
	s := NewSender(func(b [][2]int) error {
		mu.Lock()
		sent = append(sent, b...)
		mu.Unlock()
		return nil
	}, func(q [][2]int) int { return min(len(q), 3) }, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				s.Add([2]int{g, i})
			}
		})
	}
	wg.Wait()
	if len(sent) != 8*200 {
		t.Fatalf("sent %d items, want %d", len(sent), 8*200)
	}
	next := make([]int, 8)
	for _, it := range sent {
		if it[1] != next[it[0]] {
			t.Fatalf("goroutine %d: item %d sent when %d was due", it[0], it[1], next[it[0]])
		}
		next[it[0]]++
	}
}

// TestSenderDropsAfterAFailure: after a failed send nothing more is sent
// and onFail ran once.
func TestSenderDropsAfterAFailure(t *testing.T) {
	var sent []int
	fails := 0
	s := NewSender(func(b []int) error {
		sent = append(sent, b...)
		if b[0] == 2 {
			return errors.New("broken")
		}
		return nil
	}, func([]int) int { return 1 }, func() { fails++ })
	for i := range 5 {
		s.Add(i)
	}
	if !slices.Equal(sent, []int{0, 1, 2}) || fails != 1 {
		t.Fatalf("sent %v, onFail ran %d times", sent, fails)
	}
}
