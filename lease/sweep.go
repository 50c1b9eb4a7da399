package lease

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Config is how a node expires leases.
type Config struct {
	// Grace is added to a lease's ttl before a replica proposes to expire
	// it; each replica after the first in the lease's preference list
	// waits Stagger more, so one replica normally does the work.
	Grace   time.Duration
	Stagger time.Duration
	// SweepEvery is how often the node looks for leases past their time.
	SweepEvery time.Duration
	// MaxShare caps the leases one sweep expires at this share of the
	// leases the node holds (at least one); MaxPerSecond caps expiries per
	// second over time (a token bucket of one second's worth).
	MaxShare     float64
	MaxPerSecond float64
}

// DefaultConfig: grace 1 s, stagger 500 ms, a sweep every 250 ms, at most
// 15 % of the node's leases per sweep (Eureka's cap) and 1,000 expiries a
// second (etcd's).
func DefaultConfig() Config {
	return Config{Grace: time.Second, Stagger: 500 * time.Millisecond, SweepEvery: 250 * time.Millisecond,
		MaxShare: 0.15, MaxPerSecond: 1000}
}

// OrDefaults fills c's zero fields from DefaultConfig.
func (c Config) OrDefaults() Config {
	d := DefaultConfig()
	if c.Grace == 0 {
		c.Grace = d.Grace
	}
	if c.Stagger == 0 {
		c.Stagger = d.Stagger
	}
	if c.SweepEvery == 0 {
		c.SweepEvery = d.SweepEvery
	}
	if c.MaxShare == 0 {
		c.MaxShare = d.MaxShare
	}
	if c.MaxPerSecond == 0 {
		c.MaxPerSecond = d.MaxPerSecond
	}
	return c
}

// ErrInvalidConfig: a Config that fails Validate.
var ErrInvalidConfig = errors.New("invalid lease configuration")

// Validate reports a configuration the node cannot use.
func (c Config) Validate() error {
	switch {
	case c.Grace < 0 || c.Stagger < 0:
		return fmt.Errorf("%w: grace %v and stagger %v must not be negative", ErrInvalidConfig, c.Grace, c.Stagger)
	case c.SweepEvery <= 0:
		return fmt.Errorf("%w: sweep interval %v must be positive", ErrInvalidConfig, c.SweepEvery)
	case c.MaxShare <= 0 || c.MaxShare > 1:
		return fmt.Errorf("%w: max share %v is not in (0, 1]", ErrInvalidConfig, c.MaxShare)
	case c.MaxPerSecond <= 0:
		return fmt.Errorf("%w: max expiries per second %v must be positive", ErrInvalidConfig, c.MaxPerSecond)
	}
	return nil
}

// Held is a lease whose record this replica holds.
type Held struct {
	ID  ID
	TTL time.Duration
	// Age since the last renewal this replica saw.
	Age time.Duration
	// Rank is this replica's place in the lease partition's preference
	// list (0: first).
	Rank int
}

// Due reports whether h is past ttl + grace + its rank's stagger.
func (c Config) Due(h Held) bool {
	return h.Age > h.TTL+c.Grace+time.Duration(h.Rank)*c.Stagger
}

// SweepInput is what one sweep decides on.
type SweepInput struct {
	Held []Held
	// MembersUp and Members: the members this node sees up, of all.
	MembersUp, Members int
	// Budget is how many expiries the rate limit allows now.
	Budget int
}

// Verdict is one sweep's decision.
type Verdict struct {
	// Expire: the leases to propose for expiry, most overdue first.
	Expire []ID
	// Due: leases past their time, Expire among them.
	Due int
	// Frozen: this node sees no majority of members up and expires
	// nothing (self-preservation).
	Frozen bool
	// Capped: due leases left for later by the share or rate cap.
	Capped int
}

// Sweep decides which leases to propose for expiry.
func (c Config) Sweep(in SweepInput) Verdict {
	var due []Held
	for _, h := range in.Held {
		if c.Due(h) {
			due = append(due, h)
		}
	}
	v := Verdict{Due: len(due), Frozen: in.Members == 0 || 2*in.MembersUp <= in.Members}
	if len(due) == 0 || v.Frozen {
		return v
	}
	slices.SortFunc(due, func(a, b Held) int {
		return cmp.Compare(b.Age-b.TTL, a.Age-a.TTL)
	})
	limit := max(1, int(c.MaxShare*float64(len(in.Held))))
	limit = min(limit, max(0, in.Budget))
	n := min(len(due), limit)
	for _, h := range due[:n] {
		v.Expire = append(v.Expire, h.ID)
	}
	v.Capped = len(due) - n
	return v
}

// Vote is one replica's answer when asked about a lease: Known, it holds
// the record; Age since the last renewal it saw.
type Vote struct {
	Known bool
	Age   time.Duration
}

// Confirmed reports whether votes (the proposer's own among them) allow
// expiring a lease of ttl held on replicas replicas: a majority of them
// answered and none saw a renewal within the ttl.
func Confirmed(ttl time.Duration, replicas int, votes []Vote) bool {
	if 2*len(votes) <= replicas {
		return false
	}
	for _, v := range votes {
		if v.Known && v.Age <= ttl {
			return false
		}
	}
	return true
}
