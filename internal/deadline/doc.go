// Package deadline hands out contexts with a timeout that operations
// starting close together share: a context.WithTimeout per operation costs a
// runtime timer (a heap insert, a delete, a lock) on a hot path that runs
// thousands of times a second, whereas a timeout's exact instant rarely
// matters to the millisecond.
package deadline
