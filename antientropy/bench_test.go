package antientropy

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

const benchKeys = 1_000_000

var (
	benchOnce sync.Once
	benchBase *fake
)

// benchPair returns two equal fakes of benchKeys keys (built once).
func benchPair() (a, b *fake) {
	benchOnce.Do(func() { benchBase = newFake(testP, baseEntries(benchKeys)) })
	return cloneFake(benchBase), cloneFake(benchBase)
}

// undiverge restores the keys diverge(a, b, n, d) touched to the base state.
func undiverge(a, b *fake, n, d int) {
	for i := range d {
		k := fmt.Appendf(nil, "key-%07d", i*(n/d))
		if i%4 == 3 {
			k = fmt.Appendf(nil, "new-%d", i)
		}
		a.set(k, benchBase.get(k))
		b.set(k, benchBase.get(k))
	}
}

// BenchmarkExchange exchanges one partition of 1M keys per side with 0, 10
// and 1000 differing keys. keys_transferred/op counts the KeyHash entries
// the peer listed (what crosses the wire).
func BenchmarkExchange(b *testing.B) {
	for _, d := range []int{0, 10, 1000} {
		b.Run(fmt.Sprintf("keys=1M/diff=%d", d), func(b *testing.B) {
			local, peer := benchPair()
			root := local.trees.Root(testP)
			var listed, repaired int
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				diverge(local, peer, benchKeys, d)
				peer.calls = calls{}
				b.StartTimer()
				res, err := Exchange(context.Background(), Config{}, testP, local, peer)
				b.StopTimer()
				if err != nil || res.KeysRepaired != d || res.Truncated {
					b.Fatalf("exchange: %+v, %v", res, err)
				}
				listed += peer.calls.KeysListed
				repaired += res.KeysRepaired
				undiverge(local, peer, benchKeys, d)
				if local.trees.Root(testP) != root || peer.trees.Root(testP) != root {
					b.Fatal("undiverge did not restore the base state")
				}
			}
			b.ReportMetric(float64(listed)/float64(b.N), "keys_transferred/op")
			b.ReportMetric(float64(repaired)/float64(b.N), "keys_repaired/op")
		})
	}
}

// BenchmarkTreeUpdate is the per-write cost the replica pays.
func BenchmarkTreeUpdate(b *testing.B) {
	var ts Trees
	key := []byte("key-0001234")
	enc := clk(dot("a", 2), dot("b", 1))
	leaf := LeafHash(key, enc)
	b.ReportAllocs()
	for i := range b.N {
		ts.Update(testP, key, leaf, LeafHash(key, enc)^uint64(i))
	}
}
