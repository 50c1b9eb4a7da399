package registry

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	ok := Instance{ID: "i-1", Address: "10.0.0.1:8080", Metadata: map[string]string{"zone": "a"}}
	if err := ok.Check("payments"); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		service string
		in      Instance
	}{
		{"", ok},
		{"pay{ments}", ok},
		{"a/b", ok},
		{"payments", Instance{Address: "10.0.0.1:1"}},
		{"payments", Instance{ID: "{x}", Address: "10.0.0.1:1"}},
		{"payments", Instance{ID: "i", Address: "10.0.0.1"}},
		{"payments", Instance{ID: "i", Address: ":80"}},
		{"payments", Instance{ID: "i", Address: "h:0"}},
		{"payments", Instance{ID: "i", Address: "h:70000"}},
		{"payments", Instance{ID: "i", Address: "h:1", Metadata: map[string]string{"k": strings.Repeat("v", 5000)}}},
	}
	for _, tc := range bad {
		if err := tc.in.Check(tc.service); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q %+v: %v", tc.service, tc.in, err)
		}
	}
}

func TestSet(t *testing.T) {
	s := Set{}
	k := Key("payments", "i-1")
	if id, ok := IDOf("payments", k); !ok || id != "i-1" {
		t.Fatalf("IDOf = %q %v", id, ok)
	}
	a := Instance{ID: "i-1", Address: "h:1", Lease: 5}
	if !s.Apply("payments", k, [][]byte{a.Encode()}) || s.Apply("payments", k, [][]byte{a.Encode()}) {
		t.Fatal("a new instance changes the set once")
	}
	b := Instance{ID: "i-1", Address: "h:2", Lease: 9}
	if !s.Apply("payments", k, [][]byte{a.Encode(), b.Encode()}) || s["i-1"].Address != "h:2" {
		t.Fatalf("siblings: the larger lease wins: %+v", s)
	}
	if s.Apply("payments", []byte("svc/{other}/i-1"), nil) || s.Apply("payments", k, [][]byte{[]byte("junk")}) == false {
		t.Fatal("other services' keys are not this set's; a value that is no instance removes it")
	}
	if len(s.Sorted()) != 0 {
		t.Fatalf("set %+v", s)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Instance{ID: "i", Address: "h:1", Metadata: map[string]string{"a": "b"}, Lease: 3}.Encode())
	f.Add([]byte(`{"id":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := Decode(b)
		if err != nil {
			return
		}
		if in.ID == "" {
			t.Fatal("decoded an instance without an id")
		}
		if again, err := Decode(in.Encode()); err != nil || !equal(again, in) {
			t.Fatalf("%+v does not round-trip: %+v %v", in, again, err)
		}
	})
}
