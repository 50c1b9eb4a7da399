// Package lint holds tests that check the module's own source for the
// house rules no compiler checks: no decision on an error's text, and
// pure cores (vclock, ring placement, quorum arithmetic, the Merkle
// tree and diff) that do no I/O, read no clock and start no goroutine.
package lint
