// Package faultinject owns the deliberately broken components that fault
// tests wrap around a node's own, so the harness can show its checker
// catches a store that loses data: a replica store that acknowledges writes
// without storing them, a hint sink that drops hints, a skewed wall clock.
// Nothing in the product imports it: the server binary reaches it only when
// built with the faultinject build tag, and node tests inject it through
// node.Config's wrap hooks.
package faultinject
