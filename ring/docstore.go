package ring

import (
	"bytes"
	"sync"
)

// DocStore persists the encoded member document (Doc.Marshal). The node
// implements it over Pebble; MemDocStore is the in-memory version.
type DocStore interface {
	// LoadDoc returns the last saved document, or nil, nil if none.
	LoadDoc() ([]byte, error)
	// SaveDoc durably replaces the saved document.
	SaveDoc([]byte) error
}

// MemDocStore is an in-memory DocStore for tests. The zero value is ready.
type MemDocStore struct {
	mu    sync.Mutex
	b     []byte
	saves int
}

// LoadDoc returns a copy of the last saved document (nil if none).
func (s *MemDocStore) LoadDoc() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b), nil
}

// SaveDoc stores a copy of b.
func (s *MemDocStore) SaveDoc(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = bytes.Clone(b)
	s.saves++
	return nil
}

// Saves returns how many times SaveDoc was called.
func (s *MemDocStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}
