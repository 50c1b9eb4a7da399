package vclock

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Encoding (docs/causality.md §4.5). All integers are unsigned LEB128 varints
// (encoding/binary uvarint) in their minimal form; decoders reject
// non-minimal varints so that every clock has exactly one encoding (I6).
//
// Clock, format 0x11:
//
//	byte     0x11
//	uvarint  number of entries
//	entries, strictly ascending by actor:
//	  uvarint  len(actor) (>= 1), actor bytes
//	  uvarint  N (>= 1)
//	  uvarint  len(Values) (<= N)
//	  values, newest first:
//	    byte     flags: bit 0 = tombstone, other bits zero
//	    uvarint  len(Value), value bytes
//
// Causal context (VV), format 0x21. The empty VV encodes as zero bytes
// (so its token is ""); a non-empty VV as:
//
//	byte     0x21
//	uvarint  number of dots (>= 1)
//	dots, strictly ascending by actor:
//	  uvarint  len(actor) (>= 1), actor bytes
//	  uvarint  N (>= 1)
//
// The first byte's high nibble names the type and the low nibble the
// version, so a context is never mistaken for a clock and vice versa.
const (
	clockFormatV1 = 0x11
	vvFormatV1    = 0x21

	flagTombstone = 0x01

	minEntryLen = 4 // actor len, >=1 actor byte, N, value count
	minValueLen = 2 // flags, value len
	minDotLen   = 3 // actor len, >=1 actor byte, N
)

// Marshal returns the canonical encoding of c. Equal clocks (Clock.Equal)
// have equal encodings. c should be valid (Validate); Marshal does not
// check.
func (c Clock) Marshal() []byte {
	n := 1 + binary.MaxVarintLen64
	for _, e := range c.Entries {
		n += 3*binary.MaxVarintLen64 + len(e.Actor)
		for _, s := range e.Values {
			n += 1 + binary.MaxVarintLen64 + len(s.Value)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, clockFormatV1)
	b = binary.AppendUvarint(b, uint64(len(c.Entries)))
	for _, e := range c.Entries {
		b = binary.AppendUvarint(b, uint64(len(e.Actor)))
		b = append(b, e.Actor...)
		b = binary.AppendUvarint(b, e.N)
		b = binary.AppendUvarint(b, uint64(len(e.Values)))
		for _, s := range e.Values {
			var f byte
			if s.Tombstone {
				f = flagTombstone
			}
			b = append(b, f)
			b = binary.AppendUvarint(b, uint64(len(s.Value)))
			b = append(b, s.Value...)
		}
	}
	return b
}

// Unmarshal strictly decodes a clock encoded by Marshal. It rejects
// unknown formats, truncated input, trailing bytes, non-minimal varints,
// unknown flags and every invariant violation (I1–I3); errors wrap
// ErrCorrupt. The result does not alias b. It never panics, and allocates
// at most a small multiple of len(b).
func Unmarshal(b []byte) (Clock, error) {
	// Pass 1 validates and counts; pass 2 fills exactly-sized slabs.
	var cnt counts
	if err := decodeClock(b, &cnt, nil); err != nil {
		return Clock{}, err
	}
	if cnt.entries == 0 {
		return Clock{}, nil
	}
	s := &slabs{entries: make([]Entry, 0, cnt.entries)}
	if cnt.sibs > 0 {
		s.sibs = make([]Sibling, 0, cnt.sibs)
	}
	if cnt.bytes > 0 {
		s.bytes = make([]byte, 0, cnt.bytes)
	}
	if err := decodeClock(b, &counts{}, s); err != nil {
		return Clock{}, err // unreachable: pass 1 accepted b
	}
	return Clock{Entries: s.entries}, nil
}

type counts struct{ entries, sibs, bytes int }

type slabs struct {
	entries []Entry
	sibs    []Sibling
	bytes   []byte
}

func decodeClock(b []byte, cnt *counts, s *slabs) error {
	r := reader{b: b}
	if err := r.format(clockFormatV1); err != nil {
		return r.corrupt(err)
	}
	ne, err := r.count(minEntryLen)
	if err != nil {
		return r.corrupt(fmt.Errorf("entry count: %w", err))
	}
	var prev []byte
	for i := uint64(0); i < ne; i++ {
		actor, err := r.actor(prev, i > 0)
		if err != nil {
			return r.corrupt(fmt.Errorf("entry %d: %w", i, err))
		}
		prev = actor
		n, err := r.uvarint()
		if err != nil {
			return r.corrupt(fmt.Errorf("entry %d: counter: %w", i, err))
		}
		if n == 0 {
			return r.corrupt(fmt.Errorf("entry %d: zero counter", i))
		}
		nv, err := r.count(minValueLen)
		if err != nil {
			return r.corrupt(fmt.Errorf("entry %d: value count: %w", i, err))
		}
		if nv > n {
			return r.corrupt(fmt.Errorf("entry %d: %d values exceed counter %d", i, nv, n))
		}
		var vs []Sibling
		if s != nil && nv > 0 {
			start := len(s.sibs)
			end := start + int(nv)
			s.sibs = s.sibs[:end]
			vs = s.sibs[start:end:end]
		}
		for k := uint64(0); k < nv; k++ {
			f, err := r.byte()
			if err != nil {
				return r.corrupt(fmt.Errorf("entry %d value %d: %w", i, k, err))
			}
			if f&^flagTombstone != 0 {
				return r.corrupt(fmt.Errorf("entry %d value %d: unknown flags %#x", i, k, f))
			}
			l, err := r.uvarint()
			if err != nil {
				return r.corrupt(fmt.Errorf("entry %d value %d: length: %w", i, k, err))
			}
			v, err := r.next(l)
			if err != nil {
				return r.corrupt(fmt.Errorf("entry %d value %d: %w", i, k, err))
			}
			cnt.bytes += len(v)
			if s != nil {
				vs[k].Tombstone = f&flagTombstone != 0
				if len(v) > 0 {
					start := len(s.bytes)
					s.bytes = append(s.bytes, v...)
					vs[k].Value = s.bytes[start:len(s.bytes):len(s.bytes)]
				}
			}
		}
		cnt.entries++
		cnt.sibs += int(nv)
		if s != nil {
			s.entries = append(s.entries, Entry{Actor: Actor(actor), N: n, Values: vs})
		}
	}
	if r.off != len(b) {
		return r.corrupt(errTrailing)
	}
	return nil
}

// Marshal returns the canonical encoding of the context v: zero bytes for
// the empty VV. v should be valid (VV.Validate); Marshal does not check.
func (v VV) Marshal() []byte {
	if len(v) == 0 {
		return nil
	}
	n := 1 + binary.MaxVarintLen64
	for _, d := range v {
		n += 2*binary.MaxVarintLen64 + len(d.Actor)
	}
	b := make([]byte, 0, n)
	b = append(b, vvFormatV1)
	b = binary.AppendUvarint(b, uint64(len(v)))
	for _, d := range v {
		b = binary.AppendUvarint(b, uint64(len(d.Actor)))
		b = append(b, d.Actor...)
		b = binary.AppendUvarint(b, d.N)
	}
	return b
}

// UnmarshalVV strictly decodes a context encoded by VV.Marshal (empty
// input is the empty context). It rejects unknown formats, truncated
// input, trailing bytes, non-minimal encodings, empty, unsorted or
// duplicate actors and zero counters; errors wrap ErrMalformedContext. It
// never panics and allocates at most a small multiple of len(b).
func UnmarshalVV(b []byte) (VV, error) {
	if len(b) == 0 {
		return nil, nil
	}
	r := reader{b: b}
	bad := func(err error) error {
		return fmt.Errorf("%w: offset %d: %w", ErrMalformedContext, r.off, err)
	}
	if err := r.format(vvFormatV1); err != nil {
		return nil, bad(err)
	}
	nd, err := r.count(minDotLen)
	if err != nil {
		return nil, bad(fmt.Errorf("dot count: %w", err))
	}
	if nd == 0 {
		return nil, bad(errors.New("empty context must be encoded as zero bytes"))
	}
	v := make(VV, 0, nd)
	var prev []byte
	for i := uint64(0); i < nd; i++ {
		actor, err := r.actor(prev, i > 0)
		if err != nil {
			return nil, bad(fmt.Errorf("dot %d: %w", i, err))
		}
		prev = actor
		n, err := r.uvarint()
		if err != nil {
			return nil, bad(fmt.Errorf("dot %d: counter: %w", i, err))
		}
		if n == 0 {
			return nil, bad(fmt.Errorf("dot %d: zero counter", i))
		}
		v = append(v, Dot{Actor: Actor(actor), N: n})
	}
	if r.off != len(b) {
		return nil, bad(errTrailing)
	}
	return v, nil
}

var (
	errTruncated  = errors.New("truncated input")
	errTrailing   = errors.New("trailing bytes")
	errOverflow   = errors.New("varint overflows uint64")
	errNonMinimal = errors.New("non-minimal varint")
)

// reader is a bounds-checked cursor over an encoding. No method panics.
type reader struct {
	b   []byte
	off int
}

func (r *reader) corrupt(err error) error {
	return fmt.Errorf("%w: offset %d: %w", ErrCorrupt, r.off, err)
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) format(want byte) error {
	f, err := r.byte()
	if err != nil {
		return err
	}
	if f != want {
		return fmt.Errorf("unknown format byte %#x (want %#x)", f, want)
	}
	return nil
}

// uvarint reads a minimal-form uvarint.
func (r *reader) uvarint() (uint64, error) {
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, errOverflow
			}
			if c == 0 && i > 0 {
				return 0, errNonMinimal
			}
			return x | uint64(c)<<s, nil
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, errOverflow
}

// count reads an element count and checks that the remaining input can
// hold that many elements of at least minLen bytes each, so that callers
// may allocate based on it.
func (r *reader) count(minLen int) (uint64, error) {
	n, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(r.remaining()/minLen) {
		return 0, fmt.Errorf("count %d exceeds remaining input: %w", n, errTruncated)
	}
	return n, nil
}

// next returns the next n bytes (aliasing the input).
func (r *reader) next(n uint64) ([]byte, error) {
	if n > uint64(r.remaining()) {
		return nil, errTruncated
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// actor reads a length-prefixed, non-empty actor that must sort strictly
// after prev (if hasPrev).
func (r *reader) actor(prev []byte, hasPrev bool) ([]byte, error) {
	l, err := r.uvarint()
	if err != nil {
		return nil, fmt.Errorf("actor length: %w", err)
	}
	if l == 0 {
		return nil, errors.New("empty actor")
	}
	a, err := r.next(l)
	if err != nil {
		return nil, fmt.Errorf("actor: %w", err)
	}
	if hasPrev && string(prev) >= string(a) {
		return nil, fmt.Errorf("actor %q not strictly after %q", a, prev)
	}
	return a, nil
}
