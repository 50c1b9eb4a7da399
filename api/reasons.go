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

	// ReasonContended (ABORTED): a register request met competing rounds
	// until its deadline and no accept of it was sent; nothing was applied.
	ReasonContended = "CONTENDED"
	// ReasonOutcomeUnknown (UNAVAILABLE or DEADLINE_EXCEEDED): a register
	// request's accept was sent and no quorum answered it; the change may
	// apply now, later or never. Retry with the same op_id.
	ReasonOutcomeUnknown = "OUTCOME_UNKNOWN"
	// ReasonFenced (FAILED_PRECONDITION): a fenced register write whose lock
	// token is older than one the register has seen. Metadata "lock",
	// "token", "seen".
	ReasonFenced = "FENCED"
	// ReasonNotANumber (FAILED_PRECONDITION): Increment of a register whose
	// value is not a decimal integer, or would overflow.
	ReasonNotANumber = "NOT_A_NUMBER"
	// ReasonLeaseNotFound (NOT_FOUND): the lease a request named expired,
	// was revoked or never existed. Metadata "lease" (16 hex digits).
	ReasonLeaseNotFound = "LEASE_NOT_FOUND"
	// ReasonCompacted (OUT_OF_RANGE): a watch's resume token is older than
	// every replica's change log; list again and watch from now.
	ReasonCompacted = "COMPACTED"
	// ReasonStaleEpoch: a Paxos message carried an older ring epoch (or
	// another ring change) than the acceptor has seen for the partition.
	// Metadata "epoch".
	ReasonStaleEpoch = "STALE_EPOCH"
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
