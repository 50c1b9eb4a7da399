#!/bin/sh
# Regenerates the Go code for proto/quorumkv/v1/*.proto into this folder.
# Files register as quorumkv/v1/<name>.proto, so they never collide with
# another module's kv.proto in the protobuf registry.
set -eu
cd "$(dirname "$0")"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/" google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
rm -f ./*.pb.go
PATH="$bin:$PATH" protoc -I proto \
  --go_out=. --go_opt=module=github.com/quorumkv/quorumkv/api \
  --go-grpc_out=. --go-grpc_opt=module=github.com/quorumkv/quorumkv/api \
  quorumkv/v1/kv.proto quorumkv/v1/replica.proto quorumkv/v1/admin.proto quorumkv/v1/serial.proto quorumkv/v1/paxos.proto quorumkv/v1/lease.proto quorumkv/v1/watch.proto quorumkv/v1/registry.proto
