// Package discovery finds the seeds a node joins: names resolved in DNS
// (dns:NAME:PORT, dns+srv:NAME) and peers that announce themselves by UDP
// multicast on the local network (LAN). Both are seed sources for
// ring.Membership (ring.SeedSource): it asks them at start and before every
// re-join round, so a name whose records change, or a peer that appears
// later, is joined without a restart.
//
// The pure parts — parsing a join entry, the announcement codec, the
// table of peers heard — do no I/O; the DNS lookups go through a Resolver
// (*net.Resolver satisfies it) and the announcements through a Transport,
// so tests fake both.
//
// The package has no package-level mutable state.
package discovery
