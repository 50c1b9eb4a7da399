package ring

import (
	"encoding/hex"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Defaults for the cluster constants.
const (
	DefaultPartitions = 1024
	DefaultReplicas   = 3
	// MaxPartitions bounds Q (storage keys carry partition ids in 16 bits,
	// see replica/doc.go).
	MaxPartitions = 65536
	// MaxReplicas is a sanity bound on N.
	MaxReplicas = 255
)

// ClusterConfig holds the cluster constants. They are fixed for the life of
// a cluster: every node must agree on them (see Hash).
type ClusterConfig struct {
	Partitions int `json:"partitions"` // Q
	Replicas   int `json:"replicas"`   // N
}

// DefaultClusterConfig returns Q=1024, N=3.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{Partitions: DefaultPartitions, Replicas: DefaultReplicas}
}

// Validate checks Partitions in [1, 65536] and Replicas in [1, 255].
func (c ClusterConfig) Validate() error {
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		return fmt.Errorf("ring: partitions must be in [1, %d], got %d", MaxPartitions, c.Partitions)
	}
	if c.Replicas < 1 || c.Replicas > MaxReplicas {
		return fmt.Errorf("ring: replicas must be in [1, %d], got %d", MaxReplicas, c.Replicas)
	}
	return nil
}

// String renders the constants the way error messages quote them.
func (c ClusterConfig) String() string {
	return fmt.Sprintf("replicas=%d partitions=%d", c.Replicas, c.Partitions)
}

// Hash is a short stable hash (16 hex digits) of the constants and of the
// placement algorithm version: two nodes with equal hashes compute the same
// partition map from the same member set.
func (c ClusterConfig) Hash() string {
	s := fmt.Sprintf("quorumkv/ring partitions=%d replicas=%d placement=%s", c.Partitions, c.Replicas, placementVersion)
	var b [8]byte
	h := xxhash.Sum64String(s)
	for i := range b {
		b[i] = byte(h >> (56 - 8*i))
	}
	return hex.EncodeToString(b[:])
}
