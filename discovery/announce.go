package discovery

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"unicode"
	"unicode/utf8"
)

// An announcement is one UDP datagram a node multicasts on the LAN:
//
//	4 bytes  magic "QKVD"
//	byte     format version (1)
//	8 bytes  cluster hash (ring.ClusterConfig.Hash, binary)
//	byte n, n bytes  cluster name (1..64 bytes)
//	byte n, n bytes  node id (1..128 bytes)
//	byte n, n bytes  gossip address, IP:port as netip writes it (1..64 bytes)
//
// Nothing may follow. Decoding is strict: a datagram that is not exactly
// this is dropped whole.
const (
	announceVersion = 1
	// MaxAnnouncement is the largest announcement (272 bytes) with room to
	// spare: a datagram longer than this is dropped unread.
	MaxAnnouncement = 512
	maxClusterName  = 64
	maxNodeID       = 128
	maxGossipAddr   = 64
	hashLen         = 8
)

var announceMagic = [4]byte{'Q', 'K', 'V', 'D'}

// Announcement says a node of a cluster gossips at an address.
type Announcement struct {
	// ClusterHash is the cluster constants' hash (ring.ClusterConfig.Hash,
	// 16 hex digits): nodes that could not form one cluster never try.
	ClusterHash string
	// Cluster is the cluster's name: two clusters with the same constants
	// on one LAN keep apart by their names.
	Cluster string
	NodeID  string
	// Gossip is the node's gossip address, IP:port.
	Gossip string
}

// ErrMalformed is matched (errors.Is) by every decoding error.
var ErrMalformed = errors.New("discovery: malformed announcement")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Validate checks every field against the format's limits.
func (a Announcement) Validate() error {
	if h, err := hex.DecodeString(a.ClusterHash); err != nil || len(h) != hashLen {
		return malformed("cluster hash %q: want %d hex bytes", a.ClusterHash, hashLen)
	}
	if err := checkText("cluster name", a.Cluster, maxClusterName); err != nil {
		return err
	}
	if err := checkText("node id", a.NodeID, maxNodeID); err != nil {
		return err
	}
	return checkGossip(a.Gossip)
}

// checkText accepts 1..max bytes of UTF-8 without control characters.
func checkText(what, s string, max int) error {
	if s == "" || len(s) > max {
		return malformed("%s: want 1 to %d bytes, got %d", what, max, len(s))
	}
	if !utf8.ValidString(s) {
		return malformed("%s: not UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return malformed("%s %q: control character", what, s)
		}
	}
	return nil
}

// checkGossip accepts a unicast IP:port with a port, written as netip
// writes it.
func checkGossip(s string) error {
	if s == "" || len(s) > maxGossipAddr {
		return malformed("gossip address: want 1 to %d bytes, got %d", maxGossipAddr, len(s))
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.String() != s || ap.Addr().Is4In6() {
		return malformed("gossip address %q: want IP:port", s)
	}
	if a := ap.Addr(); a.IsUnspecified() || a.IsMulticast() {
		return malformed("gossip address %q: not a unicast address", s)
	}
	return nil
}

// Marshal encodes a valid announcement.
func (a Announcement) Marshal() ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	h, _ := hex.DecodeString(a.ClusterHash)
	b := make([]byte, 0, 5+hashLen+3+len(a.Cluster)+len(a.NodeID)+len(a.Gossip))
	b = append(b, announceMagic[:]...)
	b = append(b, announceVersion)
	b = append(b, h...)
	for _, s := range []string{a.Cluster, a.NodeID, a.Gossip} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// UnmarshalAnnouncement decodes one datagram strictly: the magic, version
// 1, every field within its limits, and nothing after the last one.
func UnmarshalAnnouncement(b []byte) (Announcement, error) {
	var a Announcement
	if len(b) > MaxAnnouncement {
		return a, malformed("%d bytes, more than %d", len(b), MaxAnnouncement)
	}
	if len(b) < 5+hashLen || !bytes.Equal(b[:4], announceMagic[:]) {
		return a, malformed("no announcement magic")
	}
	if b[4] != announceVersion {
		return a, malformed("version %d, want %d", b[4], announceVersion)
	}
	a.ClusterHash = hex.EncodeToString(b[5 : 5+hashLen])
	rest := b[5+hashLen:]
	for _, f := range []*string{&a.Cluster, &a.NodeID, &a.Gossip} {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return Announcement{}, malformed("truncated")
		}
		n := int(rest[0])
		*f, rest = string(rest[1:1+n]), rest[1+n:]
	}
	if len(rest) != 0 {
		return Announcement{}, malformed("%d bytes after the last field", len(rest))
	}
	if err := a.Validate(); err != nil {
		return Announcement{}, err
	}
	return a, nil
}
