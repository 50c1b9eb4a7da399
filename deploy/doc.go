// Package deploy owns the ways quorumkv is run by operators: the
// Compose file (compose.yaml, checked end to end by compose-test.sh and
// `make compose-test`) and the Kubernetes manifests (k8s/, applied with
// `kubectl apply -k deploy/k8s`). It holds no code: its tests decode every
// manifest strictly with the Kubernetes API types and check their wiring
// against the flags of `quorumkv server`.
package deploy
