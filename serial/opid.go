package serial

import "crypto/rand"

// OpIDLen is the length of the operation ids the proposer makes.
const OpIDLen = 16

// MaxOpIDLen bounds a client's operation id.
const MaxOpIDLen = 32

// NewOpID returns a random operation id.
func NewOpID() []byte {
	id := make([]byte, OpIDLen)
	_, _ = rand.Read(id) // crypto/rand.Read never fails
	return id
}
