// Package purity holds no code: its test checks that the pure cores (the
// version vectors, ring placement, quorum arithmetic and the anti-entropy
// Merkle diff) import no I/O package and read no clock and start no
// goroutine, so they stay deterministic and testable without fakes.
package purity
