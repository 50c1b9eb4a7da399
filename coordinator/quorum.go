package coordinator

// tracker counts replica answers toward a quorum. It is pure: callers feed it
// results and ask whether the outcome is decided.
type tracker struct {
	need    int // answers required
	pending int // requests not answered yet
	ok      int // successful answers that count
	failed  int
}

func newTracker(need, requests int) tracker {
	return tracker{need: need, pending: requests}
}

// record takes one answer.
func (t *tracker) record(success bool) {
	t.pending--
	if success {
		t.ok++
	} else {
		t.failed++
	}
}

// met reports the quorum is reached.
func (t *tracker) met() bool { return t.ok >= t.need }

// impossible reports the quorum can no longer be reached.
func (t *tracker) impossible() bool { return t.ok+t.pending < t.need }

// decided reports that waiting longer cannot change the outcome.
func (t *tracker) decided() bool { return t.met() || t.impossible() }
