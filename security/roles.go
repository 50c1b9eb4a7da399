package security

import "crypto/x509"

// Role is what a certificate lets its holder do.
type Role uint8

const (
	// RoleNone: no certificate, or one that grants nothing.
	RoleNone Role = iota
	// RoleClient may read and write data and read the ring's state.
	RoleClient
	// RoleAdmin may also change the ring and the cluster (leave, remove,
	// commit, repair, gossip keys).
	RoleAdmin
	// RoleNode is another node: it may also call the internal services
	// (replicas, the peer pipe, transfers, hints).
	RoleNode
)

// Organizational units naming each role in a certificate's subject.
const (
	unitNode   = "node"
	unitAdmin  = "admin"
	unitClient = "client"
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleAdmin:
		return "admin"
	case RoleNode:
		return "node"
	}
	return "none"
}

// RoleOf is the role cert grants: the highest of its subject's
// organizational units that name one.
func RoleOf(cert *x509.Certificate) Role {
	if cert == nil {
		return RoleNone
	}
	best := RoleNone
	for _, ou := range cert.Subject.OrganizationalUnit {
		var r Role
		switch ou {
		case unitNode:
			r = RoleNode
		case unitAdmin:
			r = RoleAdmin
		case unitClient:
			r = RoleClient
		}
		best = max(best, r)
	}
	return best
}

// Allows reports whether a holder of role r may do what needs role need.
func (r Role) Allows(need Role) bool { return r >= need }
