//go:build race

package node_test

// raceEnabled: the race detector slows byte-heavy tests past their replica
// timeouts; `make unit` runs them without it.
const raceEnabled = true
