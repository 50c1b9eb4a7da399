package coordinator

// The choices a request makes before asking anyone, from what the node
// knows of its peers: gossip's view of who is down (Liveness) and the
// transport's view of who has gone quiet (Responsiveness). Both only order
// and steer the asking; quorums are counted from answers alone. These
// functions are pure.

// peerState is what the coordinator knows of a peer before asking it.
type peerState struct {
	down  bool // gossip believes it down
	quiet bool // it has left work unanswered for a while
}

func (s peerState) healthy() bool { return !s.down && !s.quiet }

// rank orders peers for asking: healthy ones, then quiet ones (they may
// answer late), then the ones gossip calls down.
func (s peerState) rank() int {
	switch {
	case s.down:
		return 2
	case s.quiet:
		return 1
	}
	return 0
}

// byResponsiveness orders nodes by rank, keeping their order within each
// rank.
func byResponsiveness(nodes []string, state func(string) peerState) []string {
	out := make([]string, 0, len(nodes))
	for rank := range 3 {
		for _, n := range nodes {
			if state(n).rank() == rank {
				out = append(out, n)
			}
		}
	}
	return out
}

// writePlan is how a write reaches one of the key's other primaries.
type writePlan int

const (
	// planSend: send it; a primary that does not acknowledge gets a
	// fallback (sloppy) or a hint.
	planSend writePlan = iota
	// planFallbackFirst: hand it to a fallback (sloppy), and to the
	// primary only if no fallback takes it.
	planFallbackFirst
	// planFallbackOrHint: hand it to a fallback (sloppy), and if none
	// takes it keep a hint; never wait on the primary.
	planFallbackOrHint
	// planHint: do not send it; keep a hint for the primary at once.
	planHint
)

func (p writePlan) String() string {
	return [...]string{"send", "fallback-first", "fallback-or-hint", "hint"}[p]
}

// planWrite decides how a write that needs need acknowledgements, run by
// a coordinator that is a replica itself, reaches each of the other
// primaries (states, in order). A healthy primary is sent the write. A
// quiet one is treated like a down one, and nothing new waits behind it
// while the coordinator and the healthy primaries can make the quorum
// alone with one to spare (one of them may have died unseen): it gets a
// fallback (sloppy) or a hint, and is never sent the write. When they cannot, every primary is asked as before (a quiet node
// may answer yet; quiet alone never decides a quorum): one gossip calls
// down, or a quiet one, goes to a fallback first when the write is sloppy.
func planWrite(need int, states []peerState, sloppy bool) []writePlan {
	healthy := 1 // the coordinator
	for _, s := range states {
		if s.healthy() {
			healthy++
		}
	}
	// One healthy primary more than the quorum needs (unless the
	// coordinator's own acknowledgement is enough): gossip may not have
	// seen a primary die yet, and a write that counted on it would fall
	// short without the quiet one it skipped.
	spare := need <= 1 || healthy > need
	plans := make([]writePlan, len(states))
	for i, s := range states {
		switch {
		case s.healthy():
			plans[i] = planSend
		case s.quiet && spare && sloppy:
			plans[i] = planFallbackOrHint
		case s.quiet && spare:
			plans[i] = planHint
		case sloppy:
			plans[i] = planFallbackFirst
		default:
			plans[i] = planSend
		}
	}
	return plans
}
