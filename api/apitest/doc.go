// Package apitest serves parts of the quorumkv API for tests of clients:
// RegisterStream answers the register and lock requests of a client's
// stream (KV.Stream) with a fake's Serial and Locks handlers.
package apitest
