package hintedhandoff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quorumkv/quorumkv/vclock"
)

// hint is one durable hint.
type hint struct {
	target  string
	seq     uint64
	created time.Time
	key     []byte
	clock   vclock.Clock
}

const hintVersion = 1

// ErrCorrupt is returned for a stored hint that does not decode.
var ErrCorrupt = errors.New("hintedhandoff: corrupt hint")

// hintKey is <target> 0x00 <seq:be64>: a target's hints are one range, in
// sequence order.
func hintKey(target string, seq uint64) []byte {
	k := make([]byte, 0, len(target)+9)
	k = append(k, target...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func targetRange(target string) (from, to []byte) {
	return append([]byte(target), 0), append([]byte(target), 1)
}

func parseHintKey(k []byte) (target string, seq uint64, err error) {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return "", 0, fmt.Errorf("%w: key %q", ErrCorrupt, k)
	}
	target = string(k[:len(k)-9])
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return "", 0, fmt.Errorf("%w: key %q", ErrCorrupt, k)
	}
	return target, binary.BigEndian.Uint64(k[len(k)-8:]), nil
}

// encodeHint: version, created (unix ns, varint), key length, key, clock.
func encodeHint(h hint) []byte {
	b := []byte{hintVersion}
	b = binary.AppendVarint(b, h.created.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(h.key)))
	b = append(b, h.key...)
	return append(b, h.clock.Marshal()...)
}

func decodeHint(b []byte) (hint, error) {
	var h hint
	if len(b) == 0 || b[0] != hintVersion {
		return h, fmt.Errorf("%w: bad version", ErrCorrupt)
	}
	b = b[1:]
	created, n := binary.Varint(b)
	if n <= 0 || n != len(binary.AppendVarint(nil, created)) {
		return h, fmt.Errorf("%w: bad time", ErrCorrupt)
	}
	b = b[n:]
	klen, n := binary.Uvarint(b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, klen)) || klen > uint64(len(b)-n) {
		return h, fmt.Errorf("%w: bad key length", ErrCorrupt)
	}
	b = b[n:]
	h.created = time.Unix(0, created)
	h.key = append([]byte(nil), b[:klen]...)
	c, err := vclock.Unmarshal(b[klen:])
	if err != nil {
		return h, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	h.clock = c
	return h, nil
}
