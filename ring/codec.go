package ring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// docFormatVersion is the "v" field of an encoded Doc.
const docFormatVersion = 1

// MaxDocSize bounds an encoded document accepted by UnmarshalDoc.
const MaxDocSize = 4 << 20

// Limits on member fields, so that a document (and the memberlist meta and
// broadcasts built from it) stays small.
const (
	maxIDLen   = 128
	maxAddrLen = 256
	maxZoneLen = 64
)

type wireDoc struct {
	V       int           `json:"v"`
	Cluster ClusterConfig `json:"cluster"`
	Members []Member      `json:"members"`
}

// Validate checks the document: valid cluster constants, every member
// well-formed and stored under its own ID.
func (d Doc) Validate() error {
	if err := d.Cluster.Validate(); err != nil {
		return err
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

// Validate checks field sizes and the state.
func (m Member) Validate() error {
	switch {
	case m.ID == "" || len(m.ID) > maxIDLen:
		return fmt.Errorf("ring: member id %q: length must be in [1, %d]", m.ID, maxIDLen)
	case len(m.Addr) > maxAddrLen || len(m.Gossip) > maxAddrLen:
		return fmt.Errorf("ring: member %q: address longer than %d bytes", m.ID, maxAddrLen)
	case len(m.Ready) > maxZoneLen:
		return fmt.Errorf("ring: member %q: ready signature longer than %d bytes", m.ID, maxZoneLen)
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
	return json.Marshal(wireDoc{V: docFormatVersion, Cluster: d.Cluster, Members: d.Sorted()})
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
	if w.V != docFormatVersion {
		return Doc{}, fmt.Errorf("ring: document format version %d, want %d", w.V, docFormatVersion)
	}
	d := Doc{Cluster: w.Cluster, Members: make(map[string]Member, len(w.Members))}
	for _, m := range w.Members {
		if _, dup := d.Members[m.ID]; dup {
			return Doc{}, fmt.Errorf("ring: duplicate member %q", m.ID)
		}
		d.Members[m.ID] = m
	}
	if err := d.Validate(); err != nil {
		return Doc{}, err
	}
	return d, nil
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
