package paxossim

import (
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/paxos"
)

// Config describes one simulated run. Zero fields take the defaults of
// DefaultConfig, except the fault rates and switches, which are used as
// given.
type Config struct {
	Seed uint64

	Acceptors int // acceptors of the first configuration
	Proposers int
	Clients   int
	Keys      int
	// OpsPerClient: each client issues this many operations, one at a time.
	OpsPerClient int
	// Window: the recent operation ids a register keeps.
	Window int
	// MaxAttempts: rounds a proposer runs for one request before it answers
	// the client (each NotSent or Unknown round is retried with a new one).
	MaxAttempts int

	// Network: each message is dropped or duplicated with these
	// probabilities and delivered after MinDelay..MaxDelay ticks.
	Drop, Duplicate    float64
	MinDelay, MaxDelay int64
	// Timeout: ticks a round waits for the answers to one phase.
	Timeout int64

	// Faults: every FaultEvery ticks (0: never) one fault may start or
	// end: an acceptor crash (it restarts with its records, the messages
	// in flight to it are lost), a proposer crash (it restarts with an
	// empty cache and a new ballot generator), a cut link.
	FaultEvery     int64
	CrashAcceptors bool
	CrashProposers bool
	Partitions     bool

	// Moves: ring changes during the run, one after the other, each
	// replacing one acceptor by a new one through a joint epoch, an
	// identity round per key under joint quorums, then the new epoch.
	Moves int
	// SkipCatchUp leaves the identity rounds out of each move (for tests
	// that show the checks catch the loss).
	SkipCatchUp bool

	// ReadAtPrepare: the clients' reads may end at their prepare
	// (paxos.Round.ReadAtPrepare); catch-up and final reads always run the
	// accept.
	ReadAtPrepare bool

	// MaxSteps bounds the run (a run that does not settle fails).
	MaxSteps int
}

// DefaultConfig returns the configuration the per-change test runs:
// three acceptors, three proposers, four clients on two keys, every fault
// on.
func DefaultConfig(seed uint64) Config {
	return Config{
		Seed:           seed,
		Acceptors:      3,
		Proposers:      3,
		Clients:        4,
		Keys:           2,
		OpsPerClient:   12,
		Window:         paxos.DefaultWindow,
		MaxAttempts:    4,
		Drop:           0.05,
		Duplicate:      0.05,
		MinDelay:       1,
		MaxDelay:       12,
		Timeout:        40,
		FaultEvery:     25,
		CrashAcceptors: true,
		CrashProposers: true,
		Partitions:     true,
		ReadAtPrepare:  true,
		MaxSteps:       200_000,
	}
}

// VariedConfig returns DefaultConfig(seed) reshaped by the seed: one seed
// in three is calm (no crashes or cut links, little loss: contention and
// the fast path dominate), one in four has five acceptors, and the number
// of clients and keys varies.
func VariedConfig(seed uint64) Config {
	c := DefaultConfig(seed)
	if seed%3 == 1 {
		c.FaultEvery, c.Drop, c.Duplicate = 0, 0.01, 0.02
	}
	if seed%4 == 0 {
		c.Acceptors = 5
	}
	c.ReadAtPrepare = seed%2 == 0
	c.Keys = 1 + int(seed/3%3)
	c.Clients = 3 + int(seed%3)
	if c.Keys == 1 {
		c.Clients = 3 // one key: porcupine's search grows fast with concurrency
	}
	return c
}

func (c Config) withDefaults() Config {
	d := DefaultConfig(c.Seed)
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.Acceptors, d.Acceptors)
	set(&c.Proposers, d.Proposers)
	set(&c.Clients, d.Clients)
	set(&c.Keys, d.Keys)
	set(&c.OpsPerClient, d.OpsPerClient)
	set(&c.Window, d.Window)
	set(&c.MaxAttempts, d.MaxAttempts)
	set(&c.MaxSteps, d.MaxSteps)
	if c.MaxDelay == 0 {
		c.MinDelay, c.MaxDelay = d.MinDelay, d.MaxDelay
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	return c
}

// Validate reports a configuration that cannot run.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Acceptors < 1 || c.Proposers < 1 || c.Clients < 1 || c.Keys < 1 || c.OpsPerClient < 1 {
		errs = append(errs, errors.New("paxossim: acceptors, proposers, clients, keys and operations must be positive"))
	}
	if c.Drop < 0 || c.Drop >= 1 || c.Duplicate < 0 || c.Duplicate >= 1 {
		errs = append(errs, fmt.Errorf("paxossim: drop %v and duplicate %v must be in [0,1)", c.Drop, c.Duplicate))
	}
	if c.MinDelay < 1 || c.MaxDelay < c.MinDelay || c.Timeout < 1 {
		errs = append(errs, fmt.Errorf("paxossim: delays %d..%d and timeout %d must be positive and ordered", c.MinDelay, c.MaxDelay, c.Timeout))
	}
	if c.FaultEvery < 0 || c.Moves < 0 || c.Window < 0 || c.MaxAttempts < 1 {
		errs = append(errs, errors.New("paxossim: fault interval, moves, window and attempts must not be negative"))
	}
	return errors.Join(errs...)
}
