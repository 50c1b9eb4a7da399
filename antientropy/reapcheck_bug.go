//go:build qkvbug_reapall

package antientropy

// reapWithoutAllReplicas: this build is deliberately broken (build tag
// qkvbug_reapall) so the fault harness can show its checker catches a
// reaper that skips the all-replicas check. Never ship it.
const reapWithoutAllReplicas = true
