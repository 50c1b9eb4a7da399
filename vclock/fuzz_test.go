package vclock

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

func seedClocks() []Clock {
	var cs []Clock
	for _, s := range []string{
		"{ | }",
		"{a:1[v1] | }",
		"{a:3[v3,v2], b:1[] | }",
		"{a:5[⊥,v4], b:2[w2,w1], c:1[] | }",
		"{a:2[v2], a#2:1[v3], a.e7:4[] | }",
	} {
		cs = append(cs, mustClock(s))
	}
	return cs
}

// FuzzUnmarshal: the clock decoder never panics; whatever it accepts is
// valid, re-encodes to the identical bytes, and survives Sync and Put.
func FuzzUnmarshal(f *testing.F) {
	for _, c := range seedClocks() {
		f.Add(c.Marshal())
	}
	f.Add([]byte{})
	f.Add([]byte{0x11})
	f.Add([]byte{0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x11, 0x01, 0x01, 'a', 0x81, 0x00, 0x00})
	f.Add([]byte{0x21, 0x01, 0x01, 'a', 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("decoded clock is invalid: %v", err)
		}
		if enc := c.Marshal(); !bytes.Equal(enc, b) {
			t.Fatalf("not canonical:\n in  % x\n out % x", b, enc)
		}
		if !Sync(c, c).Equal(c) || !Sync(c, Clock{}).Equal(c) {
			t.Fatalf("sync is not idempotent on %s", fmtClock(c))
		}
		if _, err := TryPut(c, c.Context(), "fuzz", Sibling{Value: []byte("v")}); err != nil && !errors.Is(err, ErrCounterOverflow) {
			t.Fatalf("TryPut: %v", err)
		}
		if v := c.Context(); v.Validate() != nil {
			t.Fatalf("context of a valid clock is invalid")
		}
	})
}

// FuzzUnmarshalVV: the context decoder never panics; whatever it accepts
// is valid and re-encodes to the identical bytes.
func FuzzUnmarshalVV(f *testing.F) {
	for _, c := range seedClocks() {
		f.Add(c.Context().Marshal())
		f.Add(c.Marshal())
	}
	f.Add([]byte{0x21, 0x00})
	f.Add([]byte{0x21, 0x02, 0x01, 'b', 0x01, 0x01, 'a', 0x01})
	f.Add([]byte{0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := UnmarshalVV(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedContext) {
				t.Fatalf("error does not wrap ErrMalformedContext: %v", err)
			}
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("decoded context is invalid: %v", err)
		}
		if enc := v.Marshal(); !bytes.Equal(enc, b) {
			t.Fatalf("not canonical:\n in  % x\n out % x", b, enc)
		}
	})
}

// FuzzParseToken: the token decoder never panics; whatever it accepts is
// valid and re-encodes to the identical token.
func FuzzParseToken(f *testing.F) {
	for _, c := range seedClocks() {
		f.Add(c.Context().Token())
		f.Add(base64.RawURLEncoding.EncodeToString(c.Marshal()))
	}
	f.Add("")
	f.Add("IQEBYQF")
	f.Add("IQEBYQE=")
	f.Add("IQEB\nYQE")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseToken(s)
		// The limited parser takes exactly what ParseToken takes within its
		// bounds.
		lim := ContextLimits{MaxBytes: 40, MaxActors: 2}
		lv, lerr := ParseTokenLimited(s, lim)
		if within := err == nil && len(s) <= lim.MaxBytes && len(v) <= lim.MaxActors; within != (lerr == nil) || (lerr == nil && !lv.Equal(v)) {
			t.Fatalf("ParseTokenLimited(%q) = %v, %v; ParseToken = %v, %v", s, lv, lerr, v, err)
		}
		if lerr != nil && !errors.Is(lerr, ErrMalformedContext) {
			t.Fatalf("limited error does not wrap ErrMalformedContext: %v", lerr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedContext) {
				t.Fatalf("error does not wrap ErrMalformedContext: %v", err)
			}
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("decoded context is invalid: %v", err)
		}
		if tok := v.Token(); tok != s {
			t.Fatalf("not canonical: %q -> %q", s, tok)
		}
	})
}
