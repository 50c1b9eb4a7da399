package api

// Error reasons carried in a google.rpc.ErrorInfo detail (domain Domain) on
// failed calls, so clients can tell failures with the same gRPC code apart.
const (
	Domain = "quorumkv"

	// ReasonQuorumUnavailable: too few replicas answered. Metadata "required",
	// "acknowledged" and "op" (read or write).
	ReasonQuorumUnavailable = "QUORUM_UNAVAILABLE"
	// ReasonNotReplica: a forwarded write reached a node that is not a replica.
	ReasonNotReplica = "NOT_REPLICA"
	// ReasonTooManySiblings: a client write would exceed the sibling cap.
	// Metadata "siblings", "max".
	ReasonTooManySiblings = "TOO_MANY_SIBLINGS"
	// ReasonShuttingDown: the node is stopping.
	ReasonShuttingDown = "SHUTTING_DOWN"
)
