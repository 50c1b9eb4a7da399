//go:build !qkvbug_reapall

package antientropy

// reapWithoutAllReplicas is false in every build but the fault harness's
// deliberately broken one (build tag qkvbug_reapall), which reaps
// tombstones without first establishing that every replica holds them.
const reapWithoutAllReplicas = false
