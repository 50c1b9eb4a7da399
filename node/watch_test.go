package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// watcher collects a watch's events: each key's last value, and keys that
// went backwards (an event whose value is older than one seen before).
type watcher struct {
	mu        sync.Mutex
	last      map[string]int
	backwards []string
	token     string
	events    int
}

func (w *watcher) add(ev client.WatchEvent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.token = ev.Token
	if ev.Type == "progress" {
		return nil
	}
	w.events++
	best := -1
	for _, v := range ev.Values {
		var n int
		if _, err := fmt.Sscanf(string(v), "v%d", &n); err == nil {
			best = max(best, n)
		}
	}
	if prev, ok := w.last[string(ev.Key)]; ok && best < prev {
		w.backwards = append(w.backwards, fmt.Sprintf("%s: %d after %d", ev.Key, best, prev))
	}
	w.last[string(ev.Key)] = best
	return nil
}

// missing lists the keys whose last event is not want's value.
func (w *watcher) missing(want map[string]int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	var first string
	for k, v := range want {
		if w.last[k] != v {
			if n == 0 {
				first = fmt.Sprintf("%s: last event v%d, want v%d", k, w.last[k], v)
			}
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%d keys not at their final state (%s)", n, first)
	}
	return nil
}

func startWatch(t *testing.T, cl *client.Client, spec client.WatchSpec, w *watcher) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Watch(ctx, spec, w.add) }()
	nodetest.Eventually(t, 10*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.token == "" {
			return errors.New("no first event yet")
		}
		return nil
	})
	return func() error { cancel(); return <-done }
}

// putter writes values v<i> to keys w/{g}/k-<i mod keys> and remembers
// each key's last.
type putter struct {
	t    *testing.T
	cl   *client.Client
	keys int
	want map[string]int
}

func (p *putter) put(from, to int) {
	p.t.Helper()
	const writers = 4 // each key is one writer's, so its writes stay in order
	var mu sync.Mutex
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := from; i < to; i++ {
				if (i%p.keys)%writers != w {
					continue
				}
				k := fmt.Sprintf("w/{g}/k-%d", i%p.keys)
				if _, err := p.cl.Put(context.Background(), []byte(k), []byte(fmt.Sprintf("v%d", i))); err != nil {
					errs <- fmt.Errorf("put %d: %w", i, err)
					return
				}
				mu.Lock()
				p.want[k] = i
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		p.t.Fatal(err)
	}
}

// 10,000 puts into one group while the node the watcher is connected to
// is killed and restarted: the watcher goes on through another node with
// its token, sees every key's final state and never a key go backwards; a
// watch resumed later with its token through a third node sees the changes
// made while it was away.
func TestWatchGroup(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	p := &putter{t: t, cl: c.Client("n1", "n2"), keys: 500, want: map[string]int{}}
	w := &watcher{last: map[string]int{}}
	stop := startWatch(t, c.Client("n3", "n1"), client.WatchSpec{Group: "g"}, w)
	p.put(0, 3000)
	c.Stop(2) // the watcher's node
	p.put(3000, 6000)
	c.Restart(2)
	p.put(6000, 10000)
	if _, err := p.cl.Put(context.Background(), []byte("w/{other}/x"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 30*time.Second, func() error { return w.missing(p.want) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, seen := w.last["w/{other}/x"]; len(w.backwards) > 0 || seen {
		t.Fatalf("backwards %v; another group's key seen: %v", w.backwards, seen)
	}
	t.Logf("%d events for 10,000 puts of 500 keys", w.events)

	p.want = map[string]int{}
	p.put(10000, 11000)
	resumed := &watcher{last: map[string]int{}}
	stop = startWatch(t, c.Client("n2"), client.WatchSpec{Group: "g", From: w.token}, resumed)
	nodetest.Eventually(t, 20*time.Second, func() error { return resumed.missing(p.want) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A token behind every replica's log floor gets ErrCompacted before any
// event, through any node.
func TestWatchCompacted(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.WatchLogRetain, cfg.WatchLogTrimEvery = 100, 50*time.Millisecond
	}})
	p := &putter{t: t, cl: c.Client(), keys: 10, want: map[string]int{}}
	w := &watcher{last: map[string]int{}}
	stop := startWatch(t, c.Client("n1"), client.WatchSpec{Group: "g"}, w)
	p.put(0, 50)
	nodetest.Eventually(t, 10*time.Second, func() error { return w.missing(p.want) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	p.put(50, 400)
	nodetest.Eventually(t, 10*time.Second, func() error {
		err := c.Client("n3").Watch(context.Background(), client.WatchSpec{Group: "g", From: w.token}, func(client.WatchEvent) error {
			return errors.New("an event from a compacted token") // even the first progress event
		})
		if !errors.Is(err, client.ErrCompacted) {
			return fmt.Errorf("watch from an old token: %v", err)
		}
		return nil
	})
}

// Bad watch requests fail with ErrInvalidArgument.
func TestWatchBadInput(t *testing.T) {
	c := nodetest.Start(t, 1, nodetest.Options{Replicas: 1})
	cl := c.Client()
	ctx := context.Background()
	for _, spec := range []client.WatchSpec{
		{},
		{Key: []byte("a"), Group: "g"},
		{Key: []byte("a"), Prefix: []byte("p")},
		{Group: "{g}"},
		{Group: "g", From: "!!"},
	} {
		err := cl.Watch(ctx, spec, func(client.WatchEvent) error { return nil })
		if !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("%+v: %v", spec, err)
		}
	}
}
