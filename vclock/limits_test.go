package vclock

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestParseTokenLimited: a token past the byte bound is refused before it
// is decoded, a context past the actor bound after; both wrap
// ErrMalformedContext, and a context within both parses as ParseToken does.
func TestParseTokenLimited(t *testing.T) {
	ctx := func(n int) VV {
		v := make(VV, n)
		for i := range v {
			v[i] = Dot{Actor: Actor("n1#" + strings.Repeat("a", 3) + string(rune('a'+i/26/26%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i%26))), N: 1}
		}
		return v
	}
	l := ContextLimits{MaxBytes: 1 << 10, MaxActors: 10}
	for _, tc := range []struct {
		name    string
		token   string
		wantErr bool
		actors  int
	}{
		{"empty", "", false, 0},
		{"within", ctx(10).Token(), false, 0},
		{"too many actors", ctx(11).Token(), true, 11},
		{"too long", strings.Repeat("A", 1025), true, 0},
		{"long garbage refused on length", strings.Repeat("!", 2000), true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseTokenLimited(tc.token, l)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if v.Token() != tc.token {
					t.Fatal("not the token's context")
				}
				return
			}
			var tl *ContextTooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, ErrMalformedContext) {
				t.Fatalf("err = %v, want a ContextTooLargeError wrapping ErrMalformedContext", err)
			}
			if tl.Actors != tc.actors {
				t.Fatalf("actors = %d, want %d", tl.Actors, tc.actors)
			}
		})
	}
}

func TestEncodedSize(t *testing.T) {
	for _, c := range seedClocks() {
		if got, want := c.EncodedSize(), len(c.Marshal()); got != want {
			t.Fatalf("EncodedSize = %d, Marshal is %d bytes (%v)", got, want, c)
		}
	}
	big := Clock{Entries: []Entry{{Actor: "a", N: 300, Values: []Sibling{{Value: make([]byte, 200)}}}}}
	if got, want := big.EncodedSize(), len(big.Marshal()); got != want {
		t.Fatalf("EncodedSize = %d, Marshal is %d bytes", got, want)
	}
}

// TestBounded: a read's view fits the bound, keeps each actor's oldest
// values, and its context covers exactly the values it shows: a write with
// it keeps every value the view left out.
func TestBounded(t *testing.T) {
	val := func(b byte) Sibling { return Sibling{Value: bytes.Repeat([]byte{b}, 100)} }
	c := Clock{Entries: []Entry{
		{Actor: "a", N: 5, Values: []Sibling{val('3'), val('2'), val('1')}}, // dots a5, a4, a3
		{Actor: "b", N: 2, Values: []Sibling{val('y'), val('x')}},           // dots b2, b1
	}}
	if got := c.Bounded(c.EncodedSize()); !got.Equal(c) {
		t.Fatal("a clock within the bound changed")
	}
	if got := c.Bounded(0); !got.Equal(c) {
		t.Fatal("no bound changed the clock")
	}
	for limit := 10; limit < c.EncodedSize(); limit += 37 {
		view := c.Bounded(limit)
		if err := view.Validate(); err != nil {
			t.Fatalf("limit %d: invalid view: %v", limit, err)
		}
		if view.EncodedSize() > limit {
			t.Fatalf("limit %d: view is %d bytes", limit, view.EncodedSize())
		}
		// A write with the view's context replaces what it shows and keeps
		// every value it left out.
		after := Put(c, view.Context(), "z", Sibling{Value: []byte("new")})
		if after.Size() != c.Size()-view.Size()+1 {
			t.Fatalf("limit %d: %d siblings after the write, want %d", limit, after.Size(), c.Size()-view.Size()+1)
		}
		shown := map[string]bool{}
		for _, v := range view.Live() {
			shown[string(v)] = true
		}
		kept := map[string]bool{}
		for _, v := range after.Live() {
			kept[string(v)] = true
		}
		for _, v := range c.Live() {
			if !shown[string(v)] && !kept[string(v)] {
				t.Fatalf("limit %d: a value the view did not show was overwritten", limit)
			}
			if shown[string(v)] && kept[string(v)] {
				t.Fatalf("limit %d: a value the view showed survived a write with its context", limit)
			}
		}
	}
	// Entries are filled in order, each from its oldest value: at a bound
	// for two values, a's two oldest (a3, a4) are shown, newest first.
	one := c.Bounded(1 + 1 + 2*(1+1+1+1) + 2*(1+1+100))
	if got := string(one.Live()[0][:1]) + string(one.Live()[1][:1]); got != "21" {
		t.Fatalf("view shows %q, want a's two oldest values (21)", got)
	}
}
