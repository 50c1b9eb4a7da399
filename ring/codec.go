package ring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// docFormatVersion is the "v" field of an encoded Doc. Version 1 had no
// committed ring record: its ring was the members in state valid or
// leaving, which UnmarshalDoc turns into a record at epoch 1.
const (
	docFormatVersion = 2
	docFormatV1      = 1
)

// MaxDocSize bounds an encoded document accepted by UnmarshalDoc.
const MaxDocSize = 4 << 20

// Limits on member fields, so that a document (and the memberlist meta and
// broadcasts built from it) stays small.
const (
	maxIDLen   = 128
	maxAddrLen = 256
	maxZoneLen = 64
)

// maxRingMembers bounds the committed ring (and a document's members).
const maxRingMembers = 4096

type wireDoc struct {
	V       int           `json:"v"`
	Cluster ClusterConfig `json:"cluster"`
	Ring    RingRecord    `json:"ring"`
	Members []Member      `json:"members"`
}

// Validate checks the document: valid cluster constants, every member
// well-formed and stored under its own ID.
func (d Doc) Validate() error {
	if err := d.Cluster.Validate(); err != nil {
		return err
	}
	if err := d.Ring.Validate(); err != nil {
		return err
	}
	if len(d.Members) > maxRingMembers {
		return fmt.Errorf("ring: %d members exceed %d", len(d.Members), maxRingMembers)
	}
	for id, m := range d.Members {
		if id != m.ID {
			return fmt.Errorf("ring: member %q stored under %q", m.ID, id)
		}
		if err := m.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the record: member IDs well-formed, sorted and distinct,
// and an epoch for any non-empty ring.
func (r RingRecord) Validate() error {
	if len(r.Members) > maxRingMembers {
		return fmt.Errorf("ring: committed ring of %d members exceeds %d", len(r.Members), maxRingMembers)
	}
	if len(r.Members) > 0 && r.Epoch == 0 {
		return errors.New("ring: committed ring without an epoch")
	}
	for i, id := range r.Members {
		if id == "" || len(id) > maxIDLen {
			return fmt.Errorf("ring: committed member id %q: length must be in [1, %d]", id, maxIDLen)
		}
		if i > 0 && r.Members[i-1] >= id {
			return fmt.Errorf("ring: committed members not sorted and distinct at %q", id)
		}
	}
	for id, z := range r.Zones {
		if !r.Contains(id) {
			return fmt.Errorf("ring: zone of %q, not a committed member", id)
		}
		if z == "" || len(z) > maxZoneLen {
			return fmt.Errorf("ring: zone of %q: length must be in [1, %d]", id, maxZoneLen)
		}
	}
	return nil
}

// Validate checks field sizes and the state.
func (m Member) Validate() error {
	switch {
	case m.ID == "" || len(m.ID) > maxIDLen:
		return fmt.Errorf("ring: member id %q: length must be in [1, %d]", m.ID, maxIDLen)
	case len(m.Addr) > maxAddrLen || len(m.Gossip) > maxAddrLen:
		return fmt.Errorf("ring: member %q: address longer than %d bytes", m.ID, maxAddrLen)
	case len(m.Ready) > maxZoneLen:
		return fmt.Errorf("ring: member %q: ready signature longer than %d bytes", m.ID, maxZoneLen)
	case m.Gen > m.Version:
		return fmt.Errorf("ring: member %q: generation %d above its version %d", m.ID, m.Gen, m.Version)
	case len(m.Zone) > maxZoneLen:
		return fmt.Errorf("ring: member %q: zone longer than %d bytes", m.ID, maxZoneLen)
	case !m.State.Valid():
		return fmt.Errorf("ring: member %q: invalid state %d", m.ID, m.State)
	}
	return nil
}

// Marshal encodes the document as versioned JSON, members sorted by ID (so
// equal documents encode to equal bytes).
func (d Doc) Marshal() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	ring := d.Ring
	if ring.Members == nil {
		ring.Members = []string{}
	}
	return json.Marshal(wireDoc{V: docFormatVersion, Cluster: d.Cluster, Ring: ring, Members: d.Sorted()})
}

// UnmarshalDoc decodes and validates a document written by Marshal. It is
// strict (unknown fields, unknown versions, duplicate members, trailing data
// and invalid values are errors) and never panics.
func UnmarshalDoc(b []byte) (Doc, error) {
	if len(b) > MaxDocSize {
		return Doc{}, fmt.Errorf("ring: document of %d bytes exceeds %d", len(b), MaxDocSize)
	}
	var w wireDoc
	if err := decodeStrict(b, &w); err != nil {
		return Doc{}, fmt.Errorf("ring: decode document: %w", err)
	}
	if w.V != docFormatVersion && w.V != docFormatV1 {
		return Doc{}, fmt.Errorf("ring: document format version %d, want %d", w.V, docFormatVersion)
	}
	if len(w.Ring.Members) == 0 {
		w.Ring.Members = nil
	}
	d := Doc{Cluster: w.Cluster, Ring: w.Ring, Members: make(map[string]Member, len(w.Members))}
	for _, m := range w.Members {
		if _, dup := d.Members[m.ID]; dup {
			return Doc{}, fmt.Errorf("ring: duplicate member %q", m.ID)
		}
		d.Members[m.ID] = m
	}
	if w.V == docFormatV1 {
		d.Ring = legacyRing(d)
	}
	if err := d.Validate(); err != nil {
		return Doc{}, err
	}
	return d, nil
}

// legacyRing is the committed ring of a version 1 document: its valid and
// leaving members, at epoch 1.
func legacyRing(d Doc) RingRecord {
	var ids []string
	for id, m := range d.Members {
		if m.State == StateValid || m.State == StateLeaving {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return RingRecord{}
	}
	slices.Sort(ids)
	return RingRecord{Epoch: 1, Members: ids}
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}
