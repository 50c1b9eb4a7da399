package nemesis

import (
	"testing"
	"time"
)

func TestExploreCheckerCost(t *testing.T) {
	for _, c := range []simConfig{
		{seed: 2, keys: []string{"r-0"}, clients: 7, opsPerKey: 2000, unknown: 0.05, putShare: 0.2, lateApply: true},
		{seed: 3, keys: []string{"r-0"}, clients: 14, opsPerKey: 2000, unknown: 0.02, putShare: 0.2, lateApply: true},
		{seed: 2, counter: "r-c", clients: 7, opsPerKey: 2000, unknown: 0.05},
		{seed: 3, counter: "r-c", clients: 7, opsPerKey: 4000, unknown: 0.02},
		{seed: 3, counter: "r-c", clients: 7, opsPerKey: 1000, unknown: 0.02},
		{seed: 3, counter: "r-c", clients: 7, opsPerKey: 500, unknown: 0.02},
	} {
		h := simulate(c)
		t0 := time.Now()
		res := simCheck(h, 30*time.Second)
		t.Logf("%+v: %d ops -> %v in %v", c, len(h), res, time.Since(t0))
	}
}
