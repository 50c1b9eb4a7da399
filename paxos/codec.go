package paxos

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadRecord: a stored or received record does not decode.
var ErrBadRecord = errors.New("paxos: bad record")

const recordVersion = 1

// Limits on what a decoded record may announce, so a forged one cannot
// make the decoder allocate without bound.
const (
	maxFences = 4096
	maxRecent = 1024
	maxBytes  = 64 << 20
)

// EncodeRecord returns rec's binary encoding (deterministic).
func EncodeRecord(rec Record) []byte {
	var e encoder
	e.b = append(e.b, recordVersion)
	e.ballot(rec.Promise)
	e.ballot(rec.Accepted)
	e.state(rec.State)
	return e.b
}

// EncodeState returns s's binary encoding (deterministic).
func EncodeState(s State) []byte {
	var e encoder
	e.state(s)
	return e.b
}

// DecodeRecord decodes an EncodeRecord encoding.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return Record{}, fmt.Errorf("%w: unknown encoding", ErrBadRecord)
	}
	d := decoder{b: b[1:]}
	rec := Record{Promise: d.ballot(), Accepted: d.ballot(), State: d.state()}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrBadRecord, len(d.b))
	}
	return rec, d.err
}

// DecodeState decodes an EncodeState encoding.
func DecodeState(b []byte) (State, error) {
	d := decoder{b: b}
	s := d.state()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrBadRecord, len(d.b))
	}
	return s, d.err
}

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) str(v string)     { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) ballot(b Ballot) { e.uvarint(b.Counter); e.str(b.Node) }

func (e *encoder) state(s State) {
	e.bool(s.Exists)
	e.bytes(s.Value)
	e.uvarint(s.Version)
	e.uvarint(uint64(len(s.Fences)))
	for _, f := range s.Fences {
		e.str(f.Lock)
		e.uvarint(f.Token)
	}
	l := s.Lock
	e.bool(l.Held)
	e.str(l.Holder)
	e.bytes(l.HolderOp)
	e.uvarint(l.Token)
	e.uvarint(uint64(l.TTLms))
	e.uvarint(l.Renewals)
	e.uvarint(uint64(len(s.Recent)))
	for _, r := range s.Recent {
		e.bytes(r.ID)
		e.uvarint(uint64(r.Outcome))
		e.uvarint(r.Version)
		e.uvarint(r.Token)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadRecord, what)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > maxBytes || n > uint64(len(d.b)) {
		d.fail("length past the end")
		return nil
	}
	if n == 0 {
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("bad bool")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *decoder) ballot() Ballot { return Ballot{Counter: d.uvarint(), Node: d.str()} }

func (d *decoder) count(max uint64) int {
	n := d.uvarint()
	if n > max || n > uint64(len(d.b)) {
		d.fail("count too large")
		return 0
	}
	return int(n)
}

func (d *decoder) state() State {
	var s State
	s.Exists = d.bool()
	s.Value = d.bytes()
	s.Version = d.uvarint()
	if n := d.count(maxFences); n > 0 {
		s.Fences = make([]Fence, n)
		for i := range s.Fences {
			s.Fences[i] = Fence{Lock: d.str(), Token: d.uvarint()}
		}
	}
	s.Lock.Held = d.bool()
	s.Lock.Holder = d.str()
	s.Lock.HolderOp = d.bytes()
	s.Lock.Token = d.uvarint()
	ttl := d.uvarint()
	if ttl > 1<<32-1 {
		d.fail("ttl too large")
	}
	s.Lock.TTLms = uint32(ttl)
	s.Lock.Renewals = d.uvarint()
	if n := d.count(maxRecent); n > 0 {
		s.Recent = make([]Recent, n)
		for i := range s.Recent {
			s.Recent[i] = Recent{ID: d.bytes(), Outcome: Outcome(d.uvarint()), Version: d.uvarint(), Token: d.uvarint()}
		}
	}
	if d.err != nil {
		return State{}
	}
	return s
}
