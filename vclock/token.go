package vclock

import (
	"encoding/base64"
	"fmt"
)

// Token returns the opaque client context token for v: the unpadded
// URL-safe base64 (RawURLEncoding) of v.Marshal(). The empty context
// encodes to "".
func (v VV) Token() string { return base64.RawURLEncoding.EncodeToString(v.Marshal()) }

// ParseToken decodes a token produced by VV.Token. "" is the empty context
// (nil VV, nil error). Decoding is strict and canonical: a token is
// accepted only if it is exactly what Token would produce for the decoded
// context (no padding, no line breaks, no non-zero trailing bits).
// Errors wrap ErrMalformedContext.
//
// Tokens come from clients and are not authenticated here: an inflated counter
// supersedes data (docs/causality.md §6.9). The coordinator should treat a
// counter for its own actor that is ahead of its local clock as amnesia (§6.1).
func ParseToken(s string) (VV, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64: %w", ErrMalformedContext, err)
	}
	v, err := UnmarshalVV(b)
	if err != nil {
		return nil, err
	}
	if v.Token() != s {
		return nil, fmt.Errorf("%w: non-canonical token", ErrMalformedContext)
	}
	return v, nil
}
