package node_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
	"github.com/quorumkv/quorumkv/vclock"
)

// lockedBuffer is an io.Writer for node logs read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the logged lines containing s.
func (l *lockedBuffer) lines(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// TestRepairBytesIsBatchBytes: the exchange's byte bound (antientropy does
// not import api) is the project's batch size.
func TestRepairBytesIsBatchBytes(t *testing.T) {
	if antientropy.DefaultRepairBytes != api.BatchBytes {
		t.Fatalf("antientropy.DefaultRepairBytes = %d, api.BatchBytes = %d", antientropy.DefaultRepairBytes, api.BatchBytes)
	}
}

// TestAntiEntropyLargeSiblings: three keys of 24 siblings, each 1 MiB (past
// the object cap, as concurrent writes on different replicas can merge
// into), exist on one replica only, and three others on the other replica
// only, all in one partition: 72 MiB each way, more than a peer message
// (node.Limits.PeerMessageMax) in one repair batch. One exchange over real
// gRPC moves them all (Fetch answers and Push calls are bounded by bytes; a
// 24 MiB key goes alone), and the next finds the replicas equal.
func TestAntiEntropyLargeSiblings(t *testing.T) {
	if raceEnabled {
		t.Skip("hundreds of megabytes are too slow under the race detector (the plain run covers this)")
	}
	// Objects of 24 MiB: past the 8 MiB object cap, as concurrent writes on
	// both replicas can merge into, and within what a peer message carries.
	const keys, siblings = 3, 24
	if keys*siblings<<20 <= node.DefaultLimits().PeerMessageMax(2) || siblings<<20 > node.DefaultLimits().PeerMessageMax(2) {
		t.Fatalf("the keys of one batch (%d MiB) fit in one message: the test proves nothing", keys*siblings)
	}
	logs := &lockedBuffer{}
	c := nodetest.Start(t, 2, nodetest.Options{Replicas: 2, Partitions: 8, Tune: func(cfg *node.Config) {
		cfg.DisableHintedHandoff = true
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Six keys of one partition: big-n1-* written on n1, big-n2-* on n2.
	ring := c.Node("n1").Membership().Ring()
	p := ring.Partition([]byte("big-n1-0"))
	pick := func(prefix string) [][]byte {
		var out [][]byte
		for i := 0; len(out) < keys; i++ {
			if k := fmt.Appendf(nil, "%s-%d", prefix, i); ring.Partition(k) == p {
				out = append(out, k)
			}
		}
		return out
	}
	written := map[string][][]byte{"n1": pick("big-n1"), "n2": pick("big-n2")}
	value := func(key []byte, i int) []byte {
		unit := fmt.Appendf(nil, "%s/%03d;", key, i)
		return bytes.Repeat(unit, (1<<20)/len(unit)+1)[:1<<20]
	}
	for id, ks := range written {
		for _, k := range ks {
			var clk vclock.Clock // concurrent writes by 100 actors: every sibling stays
			for i := range siblings {
				clk.Entries = append(clk.Entries, vclock.Entry{
					Actor: vclock.Actor(fmt.Sprintf("w%03d#1", i)), N: 1, Values: []vclock.Sibling{{Value: value(k, i)}},
				})
			}
			if _, _, err := c.Node(id).Store().Apply(k, clk); err != nil {
				t.Fatalf("writing %s on %s: %v", k, id, err)
			}
		}
	}

	// n1 exchanges with n2. One round does it; a second is allowed in case a
	// slow machine times the first exchange out (30 s) part way: a repaired
	// key is equal in the next one.
	repaired := 0
	for round := 1; repaired < 2*keys; round++ {
		if round > 2 {
			t.Fatalf("%d of %d keys repaired after %d rounds; exchange errors: %q", repaired, 2*keys, round-1, logs.lines("exchange failed"))
		}
		res, err := c.Node("n1").AntiEntropy().Round(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		repaired += res.KeysRepaired
		t.Logf("round %d: %+v", round, res)
	}
	for id, other := range map[string]string{"n1": "n2", "n2": "n1"} {
		for _, k := range written[other] {
			got, found, err := c.Node(id).Store().Get(k)
			if err != nil || !found {
				t.Fatalf("%s: %s found=%v err=%v", id, k, found, err)
			}
			vals := got.Live()
			if len(vals) != siblings {
				t.Fatalf("%s: %s has %d siblings, want %d", id, k, len(vals), siblings)
			}
			for i := range siblings {
				if !containsValue(vals, value(k, i)) {
					t.Fatalf("%s: %s lacks sibling %d", id, k, i)
				}
			}
		}
	}
	if res, err := c.Node("n1").AntiEntropy().Round(ctx, p); err != nil || res.Errors != 0 || res.KeysRepaired != 0 {
		t.Fatalf("the round after: %+v, %v; want nothing to repair", res, err)
	}
}

func containsValue(vals [][]byte, v []byte) bool {
	for _, x := range vals {
		if bytes.Equal(x, v) {
			return true
		}
	}
	return false
}
