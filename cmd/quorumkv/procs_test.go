package main

import "testing"

func TestServerProcs(t *testing.T) {
	for _, tc := range []struct {
		env        string
		cpus, want int
	}{
		{"", 1, 2},
		{"", 2, 4},
		{"", 8, 16},
		{"", 32, 40},
		{"3", 2, 0}, // set by the operator: left alone
	} {
		if got := serverProcs(tc.env, tc.cpus); got != tc.want {
			t.Errorf("serverProcs(%q, %d) = %d, want %d", tc.env, tc.cpus, got, tc.want)
		}
	}
}
