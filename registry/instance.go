package registry

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Instance is one registered endpoint of a service.
type Instance struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Lease    uint64            `json:"lease,omitempty"`
}

// ErrInvalid: a service name, instance id, address or metadata that cannot
// be registered.
var ErrInvalid = errors.New("invalid registration")

// Limits of what one instance may carry.
const (
	MaxNameBytes     = 200
	MaxMetadataBytes = 4096
)

// CheckService refuses a service name that is empty, too long, or holds a
// brace or a slash (it is a key group).
func CheckService(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: the service name is empty", ErrInvalid)
	case len(s) > MaxNameBytes:
		return fmt.Errorf("%w: the service name is %d bytes (limit %d)", ErrInvalid, len(s), MaxNameBytes)
	case strings.ContainsAny(s, "{}/"):
		return fmt.Errorf("%w: service name %q holds a brace or a slash", ErrInvalid, s)
	}
	return nil
}

// Check refuses an instance that cannot be registered under service.
func (in Instance) Check(service string) error {
	if err := CheckService(service); err != nil {
		return err
	}
	switch {
	case in.ID == "" || len(in.ID) > MaxNameBytes:
		return fmt.Errorf("%w: the instance id must be 1 to %d bytes", ErrInvalid, MaxNameBytes)
	case strings.ContainsAny(in.ID, "{}"):
		return fmt.Errorf("%w: instance id %q holds a brace", ErrInvalid, in.ID)
	}
	host, port, err := net.SplitHostPort(in.Address)
	if err != nil || host == "" {
		return fmt.Errorf("%w: address %q: want host:port", ErrInvalid, in.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%w: address %q: port must be 1 to 65535", ErrInvalid, in.Address)
	}
	size := 0
	for k, v := range in.Metadata {
		size += len(k) + len(v)
	}
	if size > MaxMetadataBytes {
		return fmt.Errorf("%w: metadata is %d bytes (limit %d)", ErrInvalid, size, MaxMetadataBytes)
	}
	return nil
}

// Group is the key group of service's instances.
func Group(service string) string { return service }

// Prefix starts every instance key of service.
func Prefix(service string) []byte { return []byte("svc/{" + service + "}/") }

// Key is where instance id of service is stored.
func Key(service, id string) []byte { return append(Prefix(service), id...) }

// IDOf is the instance id of an instance key of service (ok false: not
// one).
func IDOf(service string, key []byte) (string, bool) {
	p := Prefix(service)
	if !bytes.HasPrefix(key, p) || len(key) == len(p) {
		return "", false
	}
	return string(key[len(p):]), true
}

// Encode is the stored value of in (JSON, so `get` shows it).
func (in Instance) Encode() []byte {
	b, _ := json.Marshal(in)
	return b
}

// Decode reads a stored instance; anything else is ErrInvalid.
func Decode(b []byte) (Instance, error) {
	var in Instance
	if err := json.Unmarshal(b, &in); err != nil || in.ID == "" {
		return Instance{}, fmt.Errorf("%w: not an instance record", ErrInvalid)
	}
	return in, nil
}

// Pick chooses one instance among a key's siblings (concurrent
// registrations of one id): the one with the largest lease, then address.
func Pick(values [][]byte) (Instance, bool) {
	var all []Instance
	for _, v := range values {
		if in, err := Decode(v); err == nil {
			all = append(all, in)
		}
	}
	if len(all) == 0 {
		return Instance{}, false
	}
	return slices.MaxFunc(all, func(a, b Instance) int {
		if a.Lease != b.Lease {
			return cmp.Compare(a.Lease, b.Lease)
		}
		return strings.Compare(a.Address, b.Address)
	}), true
}

// Set is a service's instance set as a watch keeps it, by id.
type Set map[string]Instance

// Apply records a key's state: its live values (none: the instance is
// gone). It reports whether the set changed.
func (s Set) Apply(service string, key []byte, values [][]byte) bool {
	id, ok := IDOf(service, key)
	if !ok {
		return false
	}
	in, live := Pick(values)
	old, had := s[id]
	switch {
	case !live && had:
		delete(s, id)
		return true
	case live && (!had || !equal(old, in)):
		s[id] = in
		return true
	}
	return false
}

// Sorted is the set's instances by id.
func (s Set) Sorted() []Instance {
	out := make([]Instance, 0, len(s))
	for _, in := range s {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func equal(a, b Instance) bool {
	if a.ID != b.ID || a.Address != b.Address || a.Lease != b.Lease || len(a.Metadata) != len(b.Metadata) {
		return false
	}
	for k, v := range a.Metadata {
		if w, ok := b.Metadata[k]; !ok || w != v {
			return false
		}
	}
	return true
}
