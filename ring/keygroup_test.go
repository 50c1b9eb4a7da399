package ring

import (
	"fmt"
	"testing"
)

func TestGroupOf(t *testing.T) {
	for _, tc := range []struct{ key, group string }{
		{"plain", "plain"},
		{"svc/{payments}/i-1", "payments"},
		{"{user1000}.following", "user1000"},
		{"foo{}{bar}", "foo{}{bar}"}, // an empty tag: the whole key
		{"foo{{bar}}zap", "{bar"},    // the first '{', the first '}' after it
		{"foo{bar}{zap}", "bar"},     // only the first tag counts
		{"open{never-closed", "open{never-closed"},
		{"}{x}", "x"},
		{"", ""},
	} {
		if got := string(GroupOf([]byte(tc.key))); got != tc.group {
			t.Errorf("GroupOf(%q) = %q, want %q", tc.key, got, tc.group)
		}
	}
}

// Keys of one group share a partition, and a key without braces places
// as its group would (by all of it).
func TestKeysOfAGroupSharePartition(t *testing.T) {
	r := mustBuild(t, ClusterConfig{1024, 3}, nodeNames("node-", 5))
	want := r.Partition([]byte("payments"))
	parts := map[int]bool{}
	for i := range 200 {
		if p := r.Partition(fmt.Appendf(nil, "svc/{payments}/i-%d", i)); p != want {
			t.Fatalf("svc/{payments}/i-%d in partition %d, want %d (the group's)", i, p, want)
		}
		parts[r.Partition(fmt.Appendf(nil, "svc/payments/i-%d", i))] = true
	}
	if len(parts) < 100 {
		t.Fatalf("200 keys without braces fell in %d partitions: placement is not by the whole key", len(parts))
	}
}
