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

// ask counts one more request sent (a replacement for a failed one).
func (t *tracker) ask() { t.pending++ }

// met reports the quorum is reached.
func (t *tracker) met() bool { return t.ok >= t.need }

// impossible reports the quorum can no longer be reached.
func (t *tracker) impossible() bool { return t.ok+t.pending < t.need }

// done reports that waiting is over: the quorum is met, or every request
// has answered. A quorum that became impossible still waits for the pending
// answers (each is bounded by the replica timeout), so a failure reports how
// many replicas really acknowledged.
func (t *tracker) done() bool { return t.met() || t.pending == 0 }
