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

// A group watch sees every key's final state through a node's restart and
// never a key going backwards; a watch resumed with its token through
// another node sees the changes made while it was away; a token behind the
// log's floor gets ErrCompacted.
func TestWatchGroup(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.WatchLogRetain, cfg.WatchLogTrimEvery = 2000, 100*time.Millisecond
	}})
	ctx := context.Background()
	writer := c.Client()
	w := &watcher{last: map[string]int{}}
	stop := startWatch(t, c.Client("n1"), client.WatchSpec{Group: "g"}, w)
	want := map[string]int{}
	put := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			k := fmt.Sprintf("w/{g}/k-%d", i%50)
			if _, err := writer.Put(ctx, []byte(k), []byte(fmt.Sprintf("v%d", i))); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
			want[k] = i
		}
	}
	put(0, 300)
	c.Stop(2)
	put(300, 600)
	c.Restart(2)
	put(600, 900)
	if _, err := writer.Put(ctx, []byte("w/{other}/x"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 20*time.Second, func() error { return w.missing(want) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(w.backwards) > 0 || w.last["w/{other}/x"] != 0 {
		t.Fatalf("backwards %v; other group's key seen: %v", w.backwards, w.last["w/{other}/x"])
	}
	t.Logf("%d events for 900 puts of 50 keys", w.events)

	// Resume through another node after more changes.
	put(900, 1000)
	resumed := &watcher{last: map[string]int{}}
	stop = startWatch(t, c.Client("n2"), client.WatchSpec{Group: "g", From: w.token}, resumed)
	late := map[string]int{}
	for i := 900; i < 1000; i++ {
		late[fmt.Sprintf("w/{g}/k-%d", i%50)] = i
	}
	nodetest.Eventually(t, 20*time.Second, func() error { return resumed.missing(late) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Behind the floor: 2,000 entries kept, 2,500 more changes.
	put(1000, 3500)
	nodetest.Eventually(t, 10*time.Second, func() error {
		err := c.Client("n3").Watch(ctx, client.WatchSpec{Group: "g", From: w.token}, func(client.WatchEvent) error {
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
