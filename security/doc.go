// Package security owns quorumkv's transport security: the certificates
// `quorumkv cert` creates (a CA, node certificates, client and admin
// client certificates, all ECDSA P-256), the role a certificate grants
// (node, admin, client), and the TLS configurations of the client port and
// of the traffic between nodes, reloaded when their files change.
//
// A certificate's role is its subject's organizational unit: "node" for a
// node (its common name is the node id), "admin" for an administrator's
// client certificate and "client" for any other client.
package security
