// Package ringverdict is the one-line verdict on a ring that `quorumkv ring
// status` prints under its table and a node's admin page (/ring) shows:
// members up and down, joining and leaving, partitions moving, and what
// that means for QUORUM and ALL. It is a pure core: the caller gathers the
// members' states and hands them in; nothing here does I/O.
package ringverdict
