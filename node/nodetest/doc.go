// Package nodetest runs in-process quorumkv clusters for tests: several real
// nodes in one process, real gRPC and gossip on loopback, and a
// fault-injecting transport between them (cut links by node pair). Tests wait
// on conditions (Eventually), never on sleeps.
package nodetest
