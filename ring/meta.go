package ring

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Node meta (memberlist caps it at 512 bytes; ours is < 300):
//
//	byte    format version (1)
//	byte    member state
//	8 bytes ClusterConfig.Hash (binary)
//	uvarint partitions, uvarint replicas
//	uvarint len, gRPC address
const metaVersion = 1

type nodeMeta struct {
	State   State
	Hash    string // hex, as ClusterConfig.Hash
	Cluster ClusterConfig
	Addr    string
}

func (nm nodeMeta) encode() []byte {
	h, _ := hex.DecodeString(nm.Hash)
	b := make([]byte, 0, 2+8+3*binary.MaxVarintLen32+len(nm.Addr))
	b = append(b, metaVersion, byte(nm.State))
	b = append(b, h...)
	b = binary.AppendUvarint(b, uint64(nm.Cluster.Partitions))
	b = binary.AppendUvarint(b, uint64(nm.Cluster.Replicas))
	b = binary.AppendUvarint(b, uint64(len(nm.Addr)))
	return append(b, nm.Addr...)
}

var errBadMeta = errors.New("ring: malformed node meta")

func decodeMeta(b []byte) (nodeMeta, error) {
	var nm nodeMeta
	if len(b) < 10 || b[0] != metaVersion {
		return nm, errBadMeta
	}
	nm.State = State(b[1])
	nm.Hash = hex.EncodeToString(b[2:10])
	rest := b[10:]
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<20 {
			return nm, errBadMeta
		}
		vals[i], rest = v, rest[n:]
	}
	if vals[2] != uint64(len(rest)) {
		return nm, errBadMeta
	}
	nm.Cluster = ClusterConfig{Partitions: int(vals[0]), Replicas: int(vals[1])}
	nm.Addr = string(rest)
	return nm, nil
}

// ErrClusterMismatch is matched (errors.Is) by every *ClusterMismatchError.
var ErrClusterMismatch = errors.New("cluster mismatch")

// ClusterMismatchError reports a peer whose cluster constants (or placement
// algorithm) differ from this node's: the two cannot form one cluster.
type ClusterMismatchError struct {
	Local, Remote ClusterConfig
	// Peer names the other side: "seed <addr>" when it was a seed we tried
	// to join, else "node <name> at <addr>".
	Peer string
	// RemoteHash is the peer's ClusterConfig.Hash. It differs from
	// Local.Hash() even when Remote == Local if the peer runs another
	// placement algorithm.
	RemoteHash string
}

func (e *ClusterMismatchError) Error() string {
	if e.Local == e.Remote {
		return fmt.Sprintf("cluster mismatch: this node has %v (config hash %s), %s has the same constants but config hash %s (another placement algorithm)",
			e.Local, e.Local.Hash(), e.Peer, e.RemoteHash)
	}
	return fmt.Sprintf("cluster mismatch: this node has %v, %s has %v", e.Local, e.Peer, e.Remote)
}

// Is makes errors.Is(err, ErrClusterMismatch) true.
func (e *ClusterMismatchError) Is(target error) bool { return target == ErrClusterMismatch }
