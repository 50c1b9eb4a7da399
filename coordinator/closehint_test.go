package coordinator

import (
	"testing"
)

// TestAsyncApplyKeepsHintAfterClose: a replica write still in flight on the
// asynchronous transport when the coordinator closes fails once Close
// cancels it; its callback then runs on a closed coordinator and must still
// keep the hint, as the blocking path does.
func TestAsyncApplyKeepsHintAfterClose(t *testing.T) {
	for _, strict := range []bool{false, true} {
		cl := newCluster(t, abc, clusterOpts{hints: true, config: func(_ string, c *Config) {
			if tr, ok := c.Transport.(*fakeTransport); ok {
				c.Transport = asyncTransport{tr}
			}
		}})
		co := cl.coord("a")
		if _, ok := co.cfg.Transport.(AsyncApplier); !ok {
			t.Fatal("the transport is not an AsyncApplier")
		}
		// c's apply waits until its context ends, which only Close does.
		cl.net.setFault(opApply, "c", fault{gate: make(chan struct{})})
		res, err := co.Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Strict: strict}})
		if err != nil {
			t.Fatalf("strict=%v: %v", strict, err)
		}
		cl.net.waitFor(t, "the apply to c in flight", func() bool { return cl.net.callsTo(opApply, "c") == 1 })
		co.Close() // cancels the apply: its callback runs after closed is set
		if n := cl.net.finishedTo(opApply, "c"); n != 1 {
			t.Fatalf("strict=%v: Close returned with the apply to c unfinished (%d finished)", strict, n)
		}
		hs := cl.nodes["a"].hints.list()
		if len(hs) != 1 || hs[0].target != "c" || hs[0].key != "k" || !hs[0].clock.Equal(res.Clock) {
			t.Fatalf("strict=%v: coordinator hints %+v, want the write for c", strict, hs)
		}
	}
}
