// Package api holds the protobuf definitions of quorumkv's gRPC services and
// the code generated from them: the public KV service, the internal Replica
// service nodes use to talk to each other, and the Admin service behind the
// `quorumkv ring` commands. The generated code is committed so a clone builds
// without protoc.
package api
