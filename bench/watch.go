package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sync/errgroup"
)

// The watch latency benchmark: Watchers watches of one key group (each on
// a client of its own, as independent services watching a registry are,
// when WatcherDriver is set; else all on the writer's client), then a
// writer puts a new key of the group Rate times a second for Duration;
// each value starts with the time it was sent (this host's clock, which
// the watchers read too), so every event gives the time from the put's
// start to the event at one watcher.

// WatchDriver runs the watch benchmark.
type WatchDriver interface {
	// WatchGroup watches the keys PutInGroup writes under group until ctx
	// ends, calling ready once the watch is in place and fn with each
	// value seen.
	WatchGroup(ctx context.Context, group string, ready func(), fn func(value []byte)) error
	// PutInGroup writes key i of group.
	PutInGroup(ctx context.Context, group string, i int64, value []byte) error
}

// WatchConfig is one watch benchmark.
type WatchConfig struct {
	Watchers int
	Rate     float64
	Duration time.Duration
	// Group names the key group (a fresh one per run).
	Group string
	// Drain is how long to wait for the last events after the last put.
	Drain time.Duration
	// WatcherDriver, when set, gives watcher i a driver (a client) of its
	// own; the caller closes them after the run.
	WatcherDriver func(i int) WatchDriver
}

// WatchReport is the benchmark's outcome: latencies from a put's start to
// each watcher's event.
type WatchReport struct {
	Watchers int     `json:"watchers"`
	Rate     float64 `json:"rate"`
	Puts     int64   `json:"puts"`
	// Events: events seen (Puts × Watchers when none is missing).
	Events    int64      `json:"events"`
	Missing   int64      `json:"missing"`
	PutErrors int64      `json:"put_errors"`
	LatencyMs LatencyPct `json:"latency_ms"`
}

// LatencyPct are a histogram's percentiles in milliseconds.
type LatencyPct struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// RunWatch runs the watch benchmark on d.
func RunWatch(ctx context.Context, cfg WatchConfig, d WatchDriver) (*WatchReport, error) {
	if cfg.Watchers < 1 || cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Group == "" {
		return nil, errors.New("bench: watch needs watchers >= 1, a positive rate and duration, and a group")
	}
	if cfg.Drain == 0 {
		cfg.Drain = 5 * time.Second
	}
	hist := hdr.New(1, int64(time.Minute/time.Microsecond), 3)
	var mu sync.Mutex
	var events atomic.Int64
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var ready sync.WaitGroup
	ready.Add(cfg.Watchers)
	g, gctx := errgroup.WithContext(wctx)
	for i := range cfg.Watchers {
		var once sync.Once
		wd := d
		if cfg.WatcherDriver != nil {
			wd = cfg.WatcherDriver(i)
		}
		g.Go(func() error {
			err := wd.WatchGroup(gctx, cfg.Group, func() { once.Do(ready.Done) }, func(v []byte) {
				if len(v) < 8 {
					return
				}
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
				mu.Lock()
				_ = hist.RecordValue(max(1, time.Since(sent).Microseconds()))
				mu.Unlock()
				events.Add(1)
			})
			once.Do(ready.Done)
			if gctx.Err() != nil {
				return nil
			}
			return err
		})
	}
	readyCh := make(chan struct{})
	go func() { ready.Wait(); close(readyCh) }()
	select {
	case <-readyCh:
	case <-time.After(30 * time.Second):
		return nil, errors.New("bench: the watches were not in place after 30s")
	case <-gctx.Done():
		return nil, fmt.Errorf("bench: a watch failed: %w", g.Wait())
	}
	rep := &WatchReport{Watchers: cfg.Watchers, Rate: cfg.Rate}
	n := int64(cfg.Rate * cfg.Duration.Seconds())
	start := time.Now()
	value := make([]byte, 100)
	for i := range n {
		at := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(d):
			}
		}
		binary.BigEndian.PutUint64(value, uint64(time.Now().UnixNano()))
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := d.PutInGroup(pctx, cfg.Group, i, value); err != nil {
			rep.PutErrors++
		} else {
			rep.Puts++
		}
		cancel()
	}
	want := rep.Puts * int64(cfg.Watchers)
	deadline := time.Now().Add(cfg.Drain)
	for events.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond) // the last events' arrival, bounded by Drain
	}
	stop()
	_ = g.Wait()
	rep.Events = events.Load()
	rep.Missing = max(0, want-rep.Events)
	mu.Lock()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	rep.LatencyMs = LatencyPct{P50: ms(hist.ValueAtQuantile(50)), P99: ms(hist.ValueAtQuantile(99)),
		P999: ms(hist.ValueAtQuantile(99.9)), Max: ms(hist.Max())}
	mu.Unlock()
	return rep, nil
}
