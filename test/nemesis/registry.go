package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// The registry workload: instances of service "nemesis" register on
// leases through the ring-aware client, renew every ttl/3 (registering
// again on a new lease when theirs is found gone), and some die (their
// keep-alives stop, nothing deregisters them). After the final heal every
// instance still renewing must be listed, and every one that died long
// enough ago (ttl + grace + slack before the check) must not be.

// RegistryReport is the registry workload's outcome.
type RegistryReport struct {
	Instances    int `json:"instances"`
	Died         int `json:"died"`
	Reregistered int `json:"reregistered"`
	Renewals     int `json:"renewals"`
	// RenewFailures: keep-alives that failed (retried at the next tick).
	RenewFailures int `json:"renew_failures"`
	// Missing: live instances not listed after the final heal; Back:
	// instances that died long ago and are still (or again) listed.
	Missing []string `json:"missing,omitempty"`
	Back    []string `json:"back,omitempty"`
	// GoneAfterS: how long after its death the last dead instance left
	// the list (the check waits for it).
	ListErr string `json:"list_error,omitempty"`
}

func (r *RegistryReport) why() []string {
	var out []string
	if len(r.Missing) > 0 {
		out = append(out, fmt.Sprintf("registry: %d live instances missing after the heal: %v", len(r.Missing), r.Missing))
	}
	if len(r.Back) > 0 {
		out = append(out, fmt.Sprintf("registry: %d instances that died are listed: %v", len(r.Back), r.Back))
	}
	if r.ListErr != "" {
		out = append(out, "registry: the final listing failed: "+r.ListErr)
	}
	return out
}

const (
	registryService = "nemesis"
	registryTTL     = 3 * time.Second
	// registryGone: a dead instance must be gone this long after its
	// death (ttl + the servers' 1 s grace + a 500 ms stagger per replica
	// rank and sweeps).
	registryGone = registryTTL + 4*time.Second
)

// registryInstance is one registrant.
type registryInstance struct {
	id     string
	dies   time.Duration // after the start; 0: never
	diedAt time.Time
}

type registryWorkload struct {
	kv    *client.Client
	insts []*registryInstance
	mu    sync.Mutex
	rep   RegistryReport
}

func newRegistryWorkload(kv *client.Client, n int, duration time.Duration, seed uint64) *registryWorkload {
	r := rand.New(rand.NewPCG(seed, 0x7265676973747279))
	w := &registryWorkload{kv: kv}
	for i := range n {
		in := &registryInstance{id: fmt.Sprintf("i-%d", i)}
		if i%2 == 1 { // half die, at a random time in the run
			in.dies = duration/10 + time.Duration(r.Int64N(int64(duration*8/10)))
		}
		w.insts = append(w.insts, in)
	}
	w.rep.Instances = n
	return w
}

// run keeps in registered until it dies or ctx ends.
func (w *registryWorkload) run(ctx context.Context, in *registryInstance, opTimeout time.Duration) {
	start := time.Now()
	var lease client.LeaseID
	register := func() bool {
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		info, err := w.kv.RegisterOnce(rctx, registryService, client.Instance{ID: in.id, Address: "10.99.0.1:" + fmt.Sprint(9000+len(in.id))}, registryTTL)
		if err != nil {
			return false
		}
		lease = info.ID
		return true
	}
	for !register() {
		if !sleep(ctx, registryTTL/3) {
			return
		}
	}
	t := time.NewTicker(registryTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if in.dies > 0 && time.Since(start) >= in.dies {
			w.mu.Lock()
			in.diedAt = time.Now()
			w.rep.Died++
			w.mu.Unlock()
			return
		}
		rctx, cancel := context.WithTimeout(ctx, registryTTL/3)
		_, err := w.kv.KeepAliveLease(rctx, lease)
		cancel()
		w.mu.Lock()
		switch {
		case err == nil:
			w.rep.Renewals++
		case errors.Is(err, client.ErrLeaseNotFound):
			w.rep.Reregistered++
		default:
			w.rep.RenewFailures++
		}
		w.mu.Unlock()
		if errors.Is(err, client.ErrLeaseNotFound) {
			register()
		}
	}
}

// check runs after the final heal (the registrants still running): it
// waits, bounded, until the listing holds every live instance and none
// that died registryGone ago, and reports what it still finds wrong.
func (w *registryWorkload) check(ctx context.Context, timeout time.Duration) *RegistryReport {
	deadline := time.Now().Add(timeout)
	for {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		listed, err := w.kv.ListService(lctx, registryService)
		cancel()
		w.mu.Lock()
		rep := w.rep
		rep.Missing, rep.Back, rep.ListErr = nil, nil, ""
		if err != nil {
			rep.ListErr = err.Error()
		}
		ids := make([]string, len(listed))
		for i, in := range listed {
			ids[i] = in.ID
		}
		for _, in := range w.insts {
			switch {
			case in.diedAt.IsZero() && !slices.Contains(ids, in.id):
				rep.Missing = append(rep.Missing, in.id)
			case !in.diedAt.IsZero() && time.Since(in.diedAt) > registryGone && slices.Contains(ids, in.id):
				rep.Back = append(rep.Back, in.id)
			}
		}
		waiting := false
		for _, in := range w.insts {
			if !in.diedAt.IsZero() && time.Since(in.diedAt) <= registryGone {
				waiting = true
			}
		}
		w.mu.Unlock()
		if (err == nil && len(rep.Missing) == 0 && len(rep.Back) == 0 && !waiting) || time.Now().After(deadline) {
			return &rep
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return &rep
		}
	}
}
