package api

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// Error reasons carried in a google.rpc.ErrorInfo detail (domain Domain) on
// failed calls, so clients can tell failures with the same gRPC code apart.
const (
	Domain = "quorumkv"

	// ReasonQuorumUnavailable: too few replicas answered. Metadata "required",
	// "acknowledged" and "op" (read or write).
	ReasonQuorumUnavailable = "QUORUM_UNAVAILABLE"
	// ReasonNotReplica: a forwarded write reached a node that is not a
	// replica, or a replica operation a node that neither replicates nor
	// gains the partition at its ring epoch (metadata "epoch" when known).
	ReasonNotReplica = "NOT_REPLICA"
	// ReasonNotReady: a node replicates the partition but has not pulled it
	// completely yet; read another replica.
	ReasonNotReady = "NOT_READY"
	// ReasonTooManySiblings: a client write would exceed the sibling cap.
	// Metadata "siblings", "max".
	ReasonTooManySiblings = "TOO_MANY_SIBLINGS"
	// ReasonObjectTooLarge: a client write would make the key's stored
	// sibling set larger than the node's object limit. Metadata "bytes",
	// "max".
	ReasonObjectTooLarge = "OBJECT_TOO_LARGE"
	// ReasonOverloaded: the node has as many client operations in progress
	// as it takes (code RESOURCE_EXHAUSTED); the operation did not run.
	// Metadata "max".
	ReasonOverloaded = "OVERLOADED"
	// ReasonShuttingDown: the node is stopping.
	ReasonShuttingDown = "SHUTTING_DOWN"
	// ReasonDiskFull (RESOURCE_EXHAUSTED): the node refused a write because
	// its disk is full; it ran nowhere. Metadata "node".
	ReasonDiskFull = "DISK_FULL"
)

// ErrorInfo returns the quorumkv ErrorInfo detail of st (nil if it has
// none): the typed reason a failure carries.
func ErrorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return info
		}
	}
	return nil
}
