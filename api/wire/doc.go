// Package wire is quorumkv's framed TCP encoding of its two busiest
// streams, used in place of gRPC between nodes (the replica pipe) and
// between the Go client and a node (the KV stream). Both run on the node's
// gRPC port: a connection that opens with a magic (PipeMagic, KVMagic) is
// a framed one, anything else is gRPC.
//
// After the magic each direction is a sequence of frames: a 4-byte
// big-endian length and that many bytes of protobuf. The messages are those
// of the matching gRPC stream (Replica.Pipe, KV.Stream); only HTTP/2 is
// gone: no flow-control frames and no hand-off to gRPC's reading and
// writing goroutines, which cost a thread wake-up per message on each side.
package wire
