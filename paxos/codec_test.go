package paxos_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

// sampleRecords are records of every shape the codec carries: absent,
// promised only, values, tombstones, fences, locks, recent ids, extreme
// numbers.
func sampleRecords() []paxos.Record {
	big := bytes.Repeat([]byte{0xff, 0}, 300)
	return []paxos.Record{
		{},
		{Promise: bal(1, "n1")},
		{Promise: bal(7, "n2"), Accepted: bal(6, "n2"), State: val("hello", 3)},
		{Promise: bal(math.MaxUint64, "zzzz"), Accepted: bal(math.MaxUint64-1, ""), State: paxos.State{Version: math.MaxUint64}},
		{Accepted: bal(3, "a"), State: paxos.State{Version: 9, Fences: []paxos.Fence{{Lock: "a", Token: 1}, {Lock: "b", Token: math.MaxUint64}}}},
		{Accepted: bal(4, "b"), State: paxos.State{Exists: true, Value: big, Version: 2,
			Lock:   paxos.Lock{Held: true, Holder: "h", HolderOp: []byte("op"), Token: 5, TTLms: math.MaxUint32, Renewals: 77},
			Recent: []paxos.Recent{{ID: []byte("x"), Outcome: paxos.Applied, Version: 1, Token: 0}, {ID: []byte("y"), Outcome: paxos.Applied, Version: 2, Token: 5}}}},
		{Promise: bal(9, "é"), State: paxos.State{Exists: true, Value: []byte{}, Lock: paxos.Lock{Token: 3}}},
	}
}

func recordsEqual(a, b paxos.Record) bool {
	return a.Promise == b.Promise && a.Accepted == b.Accepted && a.State.Equal(b.State)
}

func TestRecordRoundTrip(t *testing.T) {
	for i, rec := range sampleRecords() {
		b := paxos.EncodeRecord(rec)
		got, err := paxos.DecodeRecord(b)
		if err != nil || !recordsEqual(got, rec) {
			t.Fatalf("record %d: decoded %+v, %v", i, got, err)
		}
		if !bytes.Equal(paxos.EncodeRecord(got), b) {
			t.Fatalf("record %d: encoding is not deterministic", i)
		}
		s, err := paxos.DecodeState(paxos.EncodeState(rec.State))
		if err != nil || !s.Equal(rec.State) {
			t.Fatalf("state %d: decoded %s, %v", i, printState(s), err)
		}
	}
}

// TestDecodeRecordRejectsDamage: every truncation, trailing bytes, an
// unknown version byte and a forged huge count fail with ErrBadRecord.
func TestDecodeRecordRejectsDamage(t *testing.T) {
	for i, rec := range sampleRecords() {
		b := paxos.EncodeRecord(rec)
		for n := range len(b) {
			if _, err := paxos.DecodeRecord(b[:n]); !errors.Is(err, paxos.ErrBadRecord) {
				t.Fatalf("record %d cut to %d of %d bytes: err %v", i, n, len(b), err)
			}
		}
		if _, err := paxos.DecodeRecord(append(bytes.Clone(b), 0)); !errors.Is(err, paxos.ErrBadRecord) {
			t.Fatalf("record %d with a trailing byte: err %v", i, err)
		}
		bad := bytes.Clone(b)
		bad[0] = 2
		if _, err := paxos.DecodeRecord(bad); !errors.Is(err, paxos.ErrBadRecord) {
			t.Fatalf("record %d with version byte 2: err %v", i, err)
		}
	}
	// An absent record whose fence count claims 2^40 entries.
	forged := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20}
	if _, err := paxos.DecodeRecord(forged); !errors.Is(err, paxos.ErrBadRecord) {
		t.Fatalf("forged count: err %v", err)
	}
}

// FuzzDecodeRecord: DecodeRecord and DecodeState never panic; whatever
// decodes re-encodes to bytes that decode to the same record, and that
// encoding is stable. The seeds are encodings of varied records, so the
// normal test run (go test) checks them too.
func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range sampleRecords() {
		f.Add(paxos.EncodeRecord(rec))
		f.Add(paxos.EncodeState(rec.State))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if rec, err := paxos.DecodeRecord(b); err == nil {
			enc := paxos.EncodeRecord(rec)
			again, err := paxos.DecodeRecord(enc)
			if err != nil || !recordsEqual(rec, again) {
				t.Fatalf("record %x: re-encoded %x decodes to %+v, %v", b, enc, again, err)
			}
			if !bytes.Equal(paxos.EncodeRecord(again), enc) {
				t.Fatalf("record %x: encoding not stable", b)
			}
		} else if !errors.Is(err, paxos.ErrBadRecord) {
			t.Fatalf("record %x: error %v is not ErrBadRecord", b, err)
		}
		if s, err := paxos.DecodeState(b); err == nil {
			enc := paxos.EncodeState(s)
			again, err := paxos.DecodeState(enc)
			if err != nil || !s.Equal(again) || !bytes.Equal(paxos.EncodeState(again), enc) {
				t.Fatalf("state %x: re-encoded %x decodes to %s, %v", b, enc, printState(again), err)
			}
		} else if !errors.Is(err, paxos.ErrBadRecord) {
			t.Fatalf("state %x: error %v is not ErrBadRecord", b, err)
		}
	})
}
