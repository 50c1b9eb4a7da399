// Package clock owns the one interface through which components read wall
// time for decisions (tombstone and hint ages, reaping, back-off deadlines):
// a component takes a Clock in its Config, production passes Real, tests
// pass a fake and fault tests a skewed one. Monotonic durations (timeouts,
// tickers, time.Since) do not go through it.
package clock
