package vclock

import "testing"

// A 3-actor clock with a few siblings, typical of an N=3 key.
var (
	benchLocal  = mustClock("{node-a#1:41[v41,v40], node-b#1:17[w17], node-c#1:9[] | }")
	benchRemote = mustClock("{node-a#1:40[v40,v39], node-b#1:18[w18,w17], node-c#1:10[x10] | }")
	benchCtx    = mustVV("ctx{node-a#1:40, node-b#1:17, node-c#1:9}")
	benchValue  = Sibling{Value: make([]byte, 256)}
)

func BenchmarkPut(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Put(benchLocal, benchCtx, "node-b#1", benchValue)
	}
}

func BenchmarkSync(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Sync(benchLocal, benchRemote)
	}
}

func BenchmarkMarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = benchLocal.Marshal()
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	enc := benchLocal.Marshal()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Unmarshal(enc)
	}
}
