package vclock

import (
	"bytes"
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestClockGoldenEncoding(t *testing.T) {
	c := Clock{Entries: []Entry{
		{Actor: "a", N: 300, Values: []Sibling{{Value: []byte("x")}, {Tombstone: true}}},
		{Actor: "bb", N: 1},
	}}
	want := []byte{
		0x11,      // format
		0x02,      // entries
		0x01, 'a', // actor
		0xac, 0x02, // N = 300
		0x02,            // values
		0x00, 0x01, 'x', // value
		0x01, 0x00, // tombstone, empty payload
		0x02, 'b', 'b', // actor
		0x01, // N
		0x00, // no values
	}
	if got := c.Marshal(); !bytes.Equal(got, want) {
		t.Fatalf("Marshal = % x\nwant      % x", got, want)
	}
	if got := (Clock{}).Marshal(); !bytes.Equal(got, []byte{0x11, 0x00}) {
		t.Fatalf("empty clock = % x", got)
	}
	d, err := Unmarshal(want)
	if err != nil || !d.Equal(c) {
		t.Fatalf("Unmarshal = %s, %v", fmtClock(d), err)
	}
	// Every proper prefix is truncated.
	for i := range want {
		if _, err := Unmarshal(want[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix %d accepted: %v", i, err)
		}
	}
}

func TestVVGoldenEncoding(t *testing.T) {
	v := VV{{"a", 2}, {"b", 128}}
	want := []byte{0x21, 0x02, 0x01, 'a', 0x02, 0x01, 'b', 0x80, 0x01}
	if got := v.Marshal(); !bytes.Equal(got, want) {
		t.Fatalf("Marshal = % x", got)
	}
	if got := VV(nil).Marshal(); len(got) != 0 {
		t.Fatalf("empty VV = % x", got)
	}
	w, err := UnmarshalVV(want)
	if err != nil || !vvIdentical(v, w) {
		t.Fatalf("UnmarshalVV = %v, %v", w, err)
	}
	for i := 1; i < len(want); i++ {
		if _, err := UnmarshalVV(want[:i]); !errors.Is(err, ErrMalformedContext) {
			t.Fatalf("prefix %d accepted: %v", i, err)
		}
	}
	if tok := v.Token(); tok != base64.RawURLEncoding.EncodeToString(want) {
		t.Fatalf("Token = %q", tok)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty input":        {},
		"unknown format":     {0x12, 0x00},
		"vv format":          {0x21, 0x01, 0x01, 'a', 0x01},
		"trailing byte":      {0x11, 0x00, 0x00},
		"empty actor":        {0x11, 0x01, 0x00, 0x01, 0x00},
		"zero counter":       {0x11, 0x01, 0x01, 'a', 0x00, 0x00},
		"values exceed N":    {0x11, 0x01, 0x01, 'a', 0x01, 0x02, 0x00, 0x00, 0x00, 0x00},
		"unsorted actors":    {0x11, 0x02, 0x01, 'b', 0x01, 0x00, 0x01, 'a', 0x01, 0x00},
		"duplicate actors":   {0x11, 0x02, 0x01, 'a', 0x01, 0x00, 0x01, 'a', 0x02, 0x00},
		"non-minimal count":  {0x11, 0x80, 0x00},
		"non-minimal N":      {0x11, 0x01, 0x01, 'a', 0x81, 0x00, 0x00},
		"varint overflow":    {0x11, 0x01, 0x01, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00},
		"varint too long":    {0x11, 0x01, 0x01, 'a', 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00},
		"unknown flag":       {0x11, 0x01, 0x01, 'a', 0x01, 0x01, 0x02, 0x00},
		"value past end":     {0x11, 0x01, 0x01, 'a', 0x01, 0x01, 0x00, 0x05, 'x'},
		"actor past end":     {0x11, 0x01, 0x05, 'a', 0x01, 0x00},
		"huge entry count":   {0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"huge value count":   {0x11, 0x01, 0x01, 'a', 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge value length":  {0x11, 0x01, 0x01, 'a', 0x01, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"count beyond input": {0x11, 0x02, 0x01, 'a', 0x01, 0x00},
	} {
		c, err := Unmarshal(b)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Unmarshal = %s, %v", name, fmtClock(c), err)
		}
	}
	// The maximal counter is fine.
	c, err := Unmarshal([]byte{0x11, 0x01, 0x01, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00})
	if err != nil || c.Counter("a") != 1<<64-1 {
		t.Errorf("max counter: %s, %v", fmtClock(c), err)
	}
}

func TestUnmarshalVVRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"unknown format":    {0x22, 0x01, 0x01, 'a', 0x01},
		"clock format":      {0x11, 0x00},
		"explicit empty":    {0x21, 0x00},
		"format only":       {0x21},
		"trailing byte":     {0x21, 0x01, 0x01, 'a', 0x01, 0x00},
		"empty actor":       {0x21, 0x01, 0x00, 0x01},
		"zero counter":      {0x21, 0x01, 0x01, 'a', 0x00},
		"unsorted":          {0x21, 0x02, 0x01, 'b', 0x01, 0x01, 'a', 0x01},
		"duplicate":         {0x21, 0x02, 0x01, 'a', 0x01, 0x01, 'a', 0x02},
		"non-minimal N":     {0x21, 0x01, 0x01, 'a', 0x81, 0x00},
		"huge count":        {0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"huge actor length": {0x21, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
	} {
		v, err := UnmarshalVV(b)
		if !errors.Is(err, ErrMalformedContext) {
			t.Errorf("%s: UnmarshalVV = %v, %v", name, v, err)
		}
	}
}

// TestDecodersDoNotOverAllocate: a tiny input claiming huge counts must not
// allocate more than a small multiple of its size.
func TestDecodersDoNotOverAllocate(t *testing.T) {
	inputs := [][]byte{
		{0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		{0x11, 0x01, 0x01, 'a', 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 100 {
		for _, b := range inputs {
			_, _ = Unmarshal(b)
			_, _ = UnmarshalVV(b)
			_, _ = ParseToken(base64.RawURLEncoding.EncodeToString(b))
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("decoding 300 tiny inputs allocated %d bytes", d)
	}
	// A valid clock with many empty values is bounded by its input size.
	big := Clock{Entries: []Entry{{Actor: "a", N: 100000, Values: make([]Sibling, 100000)}}}
	b := big.Marshal()
	allocs := testing.AllocsPerRun(5, func() { _, _ = Unmarshal(b) })
	if allocs > 4 {
		t.Fatalf("Unmarshal of one entry made %v allocations", allocs)
	}
}

func TestTokens(t *testing.T) {
	v, err := ParseToken("")
	if v != nil || err != nil {
		t.Fatalf(`ParseToken("") = %v, %v`, v, err)
	}
	if VV(nil).Token() != "" || (VV{}).Token() != "" {
		t.Fatal("empty VV token is not empty")
	}
	ctx := VV{{"node1#7", 3}, {"node2#1.e4", 1 << 40}}
	tok := ctx.Token()
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not raw URL base64", tok)
	}
	got, err := ParseToken(tok)
	if err != nil || !vvIdentical(got, ctx) {
		t.Fatalf("ParseToken(%q) = %v, %v", tok, got, err)
	}
	std := base64.StdEncoding.EncodeToString(ctx.Marshal())
	for name, s := range map[string]string{
		"padded":         base64.URLEncoding.EncodeToString(ctx.Marshal()),
		"std alphabet":   strings.NewReplacer("-", "+", "_", "/").Replace(tok) + "+/",
		"std padded":     std,
		"newline":        tok[:4] + "\n" + tok[4:],
		"carriage ret":   tok + "\r",
		"space":          " " + tok,
		"trailing bits":  base64.RawURLEncoding.EncodeToString([]byte{0x21, 0x01, 0x01, 'a', 0x01})[:6] + "F",
		"explicit empty": base64.RawURLEncoding.EncodeToString([]byte{0x21, 0x00}),
		"garbage":        "!!!!",
		"one char":       "A",
		"clock":          base64.RawURLEncoding.EncodeToString(mustClock("{a:1[x] | }").Marshal()),
		"unsorted":       base64.RawURLEncoding.EncodeToString([]byte{0x21, 0x02, 0x01, 'b', 0x01, 0x01, 'a', 0x01}),
		"zero counter":   base64.RawURLEncoding.EncodeToString([]byte{0x21, 0x01, 0x01, 'a', 0x00}),
	} {
		if v, err := ParseToken(s); !errors.Is(err, ErrMalformedContext) {
			t.Errorf("%s: ParseToken(%q) = %v, %v", name, s, v, err)
		}
	}
}

func TestVVEqual(t *testing.T) {
	if !mustVV("ctx{a:1, b:2}").Equal(mustVV("ctx{a:1, b:2}")) || mustVV("ctx{a:1}").Equal(mustVV("ctx{a:1, b:2}")) ||
		!VV(nil).Equal(VV{}) {
		t.Fatal("VV.Equal")
	}
}
