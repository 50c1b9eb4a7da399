package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

// ringPollInterval is how often `ring wait` (and the demo) look at the ring.
const ringPollInterval = 100 * time.Millisecond

// ringCallTimeout bounds each status call of one poll.
const ringCallTimeout = 2 * time.Second

func newRingWaitCmd() *cobra.Command {
	var cf clientFlags
	var members int
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Wait until the ring is ready: N valid members up, one epoch, no transfers",
		Long: `Wait until the ring has at least N valid members that are up, every up member
reports the same ring epoch and no member is moving partitions. Exits 0 then
(printing the ring status), or 1 after --timeout, saying what it still waits for.
Without --members it waits for every member the ring status lists.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if members < 0 {
				return usagef("--members must not be negative, got %d", members)
			}
			if err := checkOutput(cf.output); err != nil {
				return err
			}
			if cf.timeout <= 0 {
				return usagef("--timeout must be positive, got %v", cf.timeout)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), cf.timeout)
			defer cancel()
			snap, err := waitRingReady(ctx, cf.endpoints, members, cf.tls.files())
			if snap.status != nil {
				// The wait may have used up ctx: the last look gets its own.
				sctx, scancel := context.WithTimeout(context.Background(), ringCallTimeout)
				defer scancel()
				out := statusFromProto(snap.status)
				addNodeStatus(sctx, snap.status, out.Members, cf.tls.files())
				out.Transfers = snap.transfers
				out.Verdict = verdict(out.Members, out.Replicas, len(out.Transfers))
				var perr error
				if cf.output == "json" {
					perr = writeJSON(cmd.OutOrStdout(), out)
				} else {
					perr = printStatus(cmd.OutOrStdout(), out)
				}
				if err == nil {
					err = perr
				}
			}
			if err != nil {
				return fmt.Errorf("ring not ready after %v: %w", cf.timeout, err)
			}
			return nil
		},
	}
	cf.register(cmd)
	// --timeout is the whole wait here, not one request's.
	cf.timeout = time.Minute
	f := cmd.Flags().Lookup("timeout")
	f.DefValue, f.Usage = cf.timeout.String(), "how long to wait for the ring"
	cmd.Flags().IntVar(&members, "members", 0, "valid members that must be up (default: every member the ring status lists)")
	return cmd
}

// ringSnapshot is one look at the ring: the status of the first endpoint
// that answered, and what each up member says of itself.
type ringSnapshot struct {
	status    *api.RingStatusResponse // nil: no endpoint answered
	err       error                   // why status is nil
	members   []memberView            // by index of status.Members
	transfers []transferOutput
}

// memberView is what one up member reported.
type memberView struct {
	answered bool
	epoch    uint64
}

// waiting lists what the ring still lacks to be ready with want valid
// members up (0: every listed member); empty means ready.
func (s ringSnapshot) waiting(want int) []string {
	if s.status == nil {
		err := s.err
		if err == nil {
			err = errors.New("no answer")
		}
		return []string{fmt.Sprintf("ring status: %v", err)}
	}
	ms := s.status.GetMembers()
	if want <= 0 {
		want = max(len(ms), 1)
	}
	var why []string
	have := 0
	var others []string
	for _, m := range ms {
		if m.GetUp() && m.GetState() == "valid" {
			have++
			continue
		}
		switch {
		case m.GetUp():
			others = append(others, m.GetId()+" "+m.GetState())
		case m.GetState() == "valid":
			others = append(others, m.GetId()+" down")
		default:
			others = append(others, m.GetId()+" "+m.GetState()+" and down")
		}
	}
	if have < want {
		line := fmt.Sprintf("waiting for %d valid members up, have %d", want, have)
		if len(ms) < want {
			others = append(others, fmt.Sprintf("only %d listed", len(ms)))
		}
		if len(others) > 0 {
			line += " (" + strings.Join(others, ", ") + ")"
		}
		why = append(why, line)
	}
	var silent []string
	epochs := map[uint64][]string{}
	for i, m := range ms {
		if !m.GetUp() {
			continue
		}
		if i >= len(s.members) || !s.members[i].answered {
			silent = append(silent, m.GetId())
			continue
		}
		epochs[s.members[i].epoch] = append(epochs[s.members[i].epoch], m.GetId())
	}
	if len(silent) > 0 {
		why = append(why, "no answer from "+strings.Join(silent, ", "))
	}
	if len(epochs) > 1 {
		var parts []string
		for _, e := range slices.Sorted(maps.Keys(epochs)) {
			parts = append(parts, fmt.Sprintf("%s at %d", strings.Join(epochs[e], ","), e))
		}
		why = append(why, "epochs differ: "+strings.Join(parts, "; "))
	}
	if n := len(s.transfers); n > 0 {
		why = append(why, fmt.Sprintf("%d partitions moving", n))
	}
	return why
}

// ringWaiter polls a ring, keeping one client per address across polls.
type ringWaiter struct {
	tls     security.Files
	seeds   *client.Client
	mu      sync.Mutex
	members map[string]*client.Client
}

func newRingWaiter(endpoints []string, tls security.Files) (*ringWaiter, error) {
	seeds, err := client.New(endpoints, client.WithAttemptTimeout(ringCallTimeout), client.WithoutRouting(), client.WithTLS(tls))
	if err != nil {
		return nil, err
	}
	return &ringWaiter{tls: tls, seeds: seeds, members: map[string]*client.Client{}}, nil
}

func (w *ringWaiter) close() {
	_ = w.seeds.Close()
	for _, c := range w.members {
		_ = c.Close()
	}
}

func (w *ringWaiter) member(addr string) (*client.Client, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.members[addr]; ok {
		return c, nil
	}
	c, err := client.New([]string{addr}, client.WithAttemptTimeout(ringCallTimeout), client.WithoutRouting(), client.WithTLS(w.tls))
	if err != nil {
		return nil, err
	}
	w.members[addr] = c
	return c, nil
}

// poll takes one snapshot: the seeds' ring status, then every up member's
// own epoch and transfers, in parallel.
func (w *ringWaiter) poll(ctx context.Context) ringSnapshot {
	ctx, cancel := context.WithTimeout(ctx, ringCallTimeout)
	defer cancel()
	st, err := w.seeds.RingStatus(ctx)
	if err != nil {
		return ringSnapshot{err: err}
	}
	ms := st.GetMembers()
	snap := ringSnapshot{status: st, members: make([]memberView, len(ms))}
	per := make([][]transferOutput, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		if !m.GetUp() {
			continue
		}
		wg.Go(func() {
			c, err := w.member(m.GetAddress())
			if err != nil {
				return
			}
			own, err := c.RingStatus(ctx)
			if err != nil {
				return
			}
			ts, err := c.Transfers(ctx)
			if err != nil {
				return
			}
			per[i] = transfersFromProto(ts)
			snap.members[i] = memberView{answered: true, epoch: own.GetEpoch()}
		})
	}
	wg.Wait()
	snap.transfers = []transferOutput{}
	for _, ts := range per {
		snap.transfers = append(snap.transfers, ts...)
	}
	return snap
}

// waitRingReady polls the ring every ringPollInterval until it is ready
// with want valid members up (0: every listed member) or ctx ends. It
// returns the last snapshot, and when not ready an error saying what it
// still waits for.
func waitRingReady(ctx context.Context, endpoints []string, want int, tls security.Files) (ringSnapshot, error) {
	w, err := newRingWaiter(endpoints, tls)
	if err != nil {
		return ringSnapshot{}, err
	}
	defer w.close()
	var last ringSnapshot
	var why []string
	for {
		snap := w.poll(ctx)
		snapWhy := snap.waiting(want)
		if len(snapWhy) == 0 {
			return snap, nil
		}
		// A poll cut short by the deadline says less than the one before.
		if ctx.Err() == nil || why == nil {
			last, why = snap, snapWhy
		}
		select {
		case <-ctx.Done():
			return last, errors.New(strings.Join(why, "; "))
		case <-time.After(ringPollInterval):
		}
	}
}
