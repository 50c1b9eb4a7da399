// Package workers runs short tasks (one client operation, one batch of
// applies, one batch of Paxos messages) on long-lived goroutines that keep
// their grown stacks, instead of a fresh goroutine per task.
package workers
