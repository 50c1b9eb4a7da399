package vclock

import "testing"

func TestJoin(t *testing.T) {
	a := VV{{"a", 3}, {"c", 1}}
	b := VV{{"a", 1}, {"b", 2}, {"c", 4}}
	got := Join(a, b)
	want := VV{{"a", 3}, {"b", 2}, {"c", 4}}
	if !got.Equal(want) || got.Validate() != nil {
		t.Fatalf("Join = %v, want %v", got, want)
	}
	if !Descends(got, a) || !Descends(got, b) {
		t.Fatal("the join does not descend its inputs")
	}
	if j := Join(nil, a); !j.Equal(a) {
		t.Fatalf("Join(nil, a) = %v", j)
	}
}
