package api

// Regenerate the protobuf code with `go generate ./api` (needs protoc; the
// protoc-gen-go and protoc-gen-go-grpc plugins are pinned as module tools).
//go:generate sh gen.sh
