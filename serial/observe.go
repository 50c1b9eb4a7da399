package serial

import (
	"container/list"
	"sync"
	"time"
)

// observations remembers, per lock held by another, the grant this node
// last saw (token, renewals) and when it first saw it, on the monotonic
// clock. At most max locks are kept, the least recently seen leaving
// first: a forgotten lock is observed again from scratch, which only
// delays a takeover.
type observations struct {
	mu  sync.Mutex
	max int
	ll  *list.List
	m   map[string]*list.Element
}

type observation struct {
	name            string
	token, renewals uint64
	first           time.Time
}

func newObservations(max int) *observations {
	return &observations{max: max, ll: list.New(), m: map[string]*list.Element{}}
}

// see records that the lock name is held as (token, renewals) at now and
// returns when this node first saw that grant unchanged.
func (o *observations) see(name string, token, renewals uint64, now time.Time) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	if el, ok := o.m[name]; ok {
		ob := el.Value.(*observation)
		o.ll.MoveToFront(el)
		if ob.token != token || ob.renewals != renewals {
			ob.token, ob.renewals, ob.first = token, renewals, now
		}
		return ob.first
	}
	o.m[name] = o.ll.PushFront(&observation{name: name, token: token, renewals: renewals, first: now})
	for o.ll.Len() > o.max {
		old := o.ll.Back()
		o.ll.Remove(old)
		delete(o.m, old.Value.(*observation).name)
	}
	return now
}

// forget drops the observation of name (the lock was granted here, or
// found free).
func (o *observations) forget(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if el, ok := o.m[name]; ok {
		o.ll.Remove(el)
		delete(o.m, name)
	}
}

// len is the number of locks observed.
func (o *observations) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ll.Len()
}
