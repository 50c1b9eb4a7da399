package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/vclock"
)

// Leases (docs/design.md, "Leases"): the record of a lease is a key of the
// store's own space, written at QUORUM by a grant; keep-alives and the
// renewal times are soft state in each replica's leaseTable; a sweep on
// every node expires the leases of partitions it replicates (package lease
// decides which).

// errLeaseUnreachable: no replica of a lease answered a keep-alive.
var errLeaseUnreachable = errors.New("no replica of the lease answered")

// leaseCallTimeout bounds one peer call about leases, and each write of an
// expiry.
const leaseCallTimeout = 2 * time.Second

var quorum = coordinator.Consistency{Level: coordinator.LevelQuorum}

// leases is a node's lease state: renewal times on its own monotonic
// clock, the expiry rate limit and the counters.
type leases struct {
	cfg  lease.Config
	base time.Time // the monotonic origin of the table's times
	log  *slog.Logger

	mu      sync.Mutex
	table   *lease.Table
	limiter *rate.Limiter
	stats   leaseStats
	// batch sends keep-alives to peers in batches.
	batch *renewBatcher
	// records caches the lease records this replica holds.
	records *recordCache
	// scanMu guards scanned, the leases this replica holds as the sweeps
	// know them (lease_sweep.go).
	scanMu  sync.Mutex
	scanned leaseScan
}

// leaseStats are LeaseStats as the node counts them.
type leaseStats struct {
	held, renewals, expired, revoked, frozenSweeps, capped, overdue uint64
	frozen                                                          bool
}

func newLeases(cfg lease.Config, log *slog.Logger) *leases {
	return &leases{cfg: cfg, base: time.Now(), log: log, table: lease.NewTable(), records: newRecordCache(),
		limiter: rate.NewLimiter(rate.Limit(cfg.MaxPerSecond), max(1, int(cfg.MaxPerSecond)))}
}

func (l *leases) now() time.Duration { return time.Since(l.base) }

func (l *leases) statsNow() leaseStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// leaseReplicas is the preference list of id's partition.
func (n *Node) leaseReplicas(id lease.ID) []string {
	r := n.members.Ring()
	return r.Preference(r.Partition(lease.RecordKey(id)))
}

// grantLease writes a new lease's record at QUORUM and starts its clock on
// its replicas.
func (n *Node) grantLease(ctx context.Context, ttl time.Duration) (lease.ID, error) {
	if err := lease.CheckTTL(ttl); err != nil {
		return 0, err
	}
	id := newLeaseID()
	rec := lease.Record{TTL: ttl}
	if _, err := n.coord.Put(ctx, coordinator.Write{Key: lease.RecordKey(id), Value: rec.Marshal(), Consistency: quorum}); err != nil {
		return 0, err
	}
	_, _ = n.askLeaseReplicas(ctx, id, &api.LeasePeerRequest{Renew: true})
	return id, nil
}

func newLeaseID() lease.ID {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := lease.ID(binary.BigEndian.Uint64(b[:])); id != 0 {
			return id
		}
	}
}

// keepAliveSettle is how long a keep-alive one replica acknowledged waits
// for a majority of answers before it answers with what it has.
const keepAliveSettle = 250 * time.Millisecond

// keepAlive renews id on every replica of its partition; one replica that
// holds the record is enough. It answers once a majority of the replicas
// answered (the others still renew), or keepAliveSettle after the first
// acknowledgement when the others are slow or cut off (so an instance keeps
// its lease on the minority side of a partition): the lease is not found
// when one of them holds its record deleted (a revoke or expiry deletes at
// QUORUM, so every majority holds a deletion), or none holds it (the
// grant's quorum would meet this one); with fewer answers and no holder the
// outcome is unknown (unavailable).
func (n *Node) keepAlive(ctx context.Context, id lease.ID) (ttl time.Duration, acks int, err error) {
	replicas := n.leaseReplicas(id)
	answers := make(chan renewAnswer, len(replicas))
	local := false
	for _, node := range replicas {
		if node == n.cfg.ID {
			local = true
			continue
		}
		n.leases.batch.renew(node, uint64(id), answers)
	}
	if local {
		e, err := n.renewHere(id)
		answers <- renewAnswer{entry: e, err: err}
	}
	var settle <-chan time.Time
	answered, ended := 0, false
wait:
	for range replicas {
		var a renewAnswer
		select {
		case a = <-answers:
		case <-settle:
			break wait
		case <-ctx.Done():
			break wait
		}
		if a.err != nil || a.entry == nil {
			continue
		}
		answered++
		if a.entry.GetKnown() {
			if acks == 0 {
				t := time.NewTimer(keepAliveSettle)
				defer t.Stop()
				settle = t.C
			}
			acks++
			ttl = max(ttl, time.Duration(a.entry.GetTtlMs())*time.Millisecond)
		}
		ended = ended || a.entry.GetEnded()
		if 2*answered > len(replicas) && (acks > 0 || ended) {
			break
		}
	}
	switch {
	case ended:
		return 0, 0, &lease.NotFoundError{ID: id}
	case acks > 0:
		return ttl, acks, nil
	case 2*answered > len(replicas):
		return 0, 0, &lease.NotFoundError{ID: id}
	case ctx.Err() != nil:
		return 0, 0, ctx.Err()
	}
	return 0, 0, fmt.Errorf("%w (lease %s: %d of %d replicas answered, none holds it)", errLeaseUnreachable, id, answered, len(replicas))
}

// renewHere renews id in this replica's own table.
func (n *Node) renewHere(id lease.ID) (*api.LeasePeerEntry, error) {
	resp, err := n.answerLeases(&api.LeasePeerRequest{Leases: []uint64{uint64(id)}, Renew: true})
	if err != nil || len(resp.GetEntries()) != 1 {
		return nil, fmt.Errorf("renewing lease %s here: %v", id, err)
	}
	return resp.GetEntries()[0], nil
}

// askLeaseReplicas sends req about id to every replica of id's partition
// (this node's own answer without the network) and returns the answers;
// errLeaseUnreachable when none answered.
func (n *Node) askLeaseReplicas(ctx context.Context, id lease.ID, req *api.LeasePeerRequest) ([]*api.LeasePeerEntry, error) {
	return n.askReplicas(ctx, n.leaseReplicas(id), id, req)
}

func (n *Node) askReplicas(ctx context.Context, replicas []string, id lease.ID, req *api.LeasePeerRequest) ([]*api.LeasePeerEntry, error) {
	req.Leases, req.From = []uint64{uint64(id)}, n.cfg.ID
	var mu sync.Mutex
	var out []*api.LeasePeerEntry
	var g errgroup.Group
	for _, node := range replicas {
		g.Go(func() error {
			resp, err := n.leasePeer(ctx, node, req)
			if err != nil || len(resp.GetEntries()) != 1 {
				return nil
			}
			mu.Lock()
			out = append(out, resp.GetEntries()[0])
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (lease %s, replicas %v)", errLeaseUnreachable, id, replicas)
	}
	return out, nil
}

// leasePeer is Replica.Leases on node, this node's own answer for itself.
func (n *Node) leasePeer(ctx context.Context, node string, req *api.LeasePeerRequest) (*api.LeasePeerResponse, error) {
	if node == n.cfg.ID {
		return n.answerLeases(req)
	}
	cctx, cancel := context.WithTimeout(ctx, leaseCallTimeout)
	defer cancel()
	return n.transport.Leases(cctx, node, req)
}

// answerLeases is this replica's answer about req's leases.
func (n *Node) answerLeases(req *api.LeasePeerRequest) (*api.LeasePeerResponse, error) {
	resp := &api.LeasePeerResponse{}
	for _, raw := range req.GetLeases() {
		id := lease.ID(raw)
		e := &api.LeasePeerEntry{Lease: raw}
		st, err := n.leaseRecord(id)
		if err != nil {
			return nil, err
		}
		rec, live := st.rec, st.live
		now := n.leases.now()
		n.leases.mu.Lock()
		if req.GetRenew() && live {
			n.leases.table.Renew(id, now)
			n.leases.stats.renewals++
		}
		if live {
			n.leases.table.Seen(id, now)
		}
		age, _ := n.leases.table.Age(id, now)
		n.leases.mu.Unlock()
		e.Known = live
		e.Ended = st.ended
		e.TtlMs, e.AgeMs = uint64(rec.TTL.Milliseconds()), uint64(age.Milliseconds())
		if req.GetKeys() {
			keys, err := n.attachedHere(id)
			if err != nil {
				return nil, err
			}
			e.Keys = keys
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

// attachedHere lists the keys attached to id that this replica holds live
// attachments of.
func (n *Node) attachedHere(id lease.ID) ([][]byte, error) {
	prefix := lease.AttachKey(id, nil)
	p := n.members.Ring().Partition(prefix)
	var keys [][]byte
	err := n.store.ScanLeaseKeys(p, prefix, func(k []byte, c vclock.Clock) error {
		if _, key, err := lease.ParseKey(k); err == nil && key != nil && len(c.Live()) > 0 {
			keys = append(keys, key)
		}
		return nil
	})
	return keys, err
}

// showLease reads id's record at QUORUM and asks its replicas for the
// latest renewal and the attached keys.
func (n *Node) showLease(ctx context.Context, id lease.ID) (*api.LeaseShowResponse, error) {
	rec, _, err := n.readLease(ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &api.LeaseShowResponse{Lease: uint64(id), TtlMs: uint64(rec.TTL.Milliseconds())}
	answers, err := n.askLeaseReplicas(ctx, id, &api.LeasePeerRequest{Keys: true})
	if err != nil {
		return nil, err
	}
	youngest, seen := time.Duration(0), map[string]bool{}
	for i, e := range answers {
		if age := time.Duration(e.GetAgeMs()) * time.Millisecond; e.GetKnown() && (i == 0 || age < youngest) {
			youngest = age
		}
		for _, k := range e.GetKeys() {
			if !seen[string(k)] {
				seen[string(k)] = true
				resp.Keys = append(resp.Keys, k)
			}
		}
	}
	resp.RemainingMs = uint64(max(0, rec.TTL-youngest).Milliseconds())
	return resp, nil
}

// readLease reads id's record at QUORUM: lease.ErrNotFound when it has no
// live one.
func (n *Node) readLease(ctx context.Context, id lease.ID) (lease.Record, vclock.VV, error) {
	res, err := n.coord.Get(ctx, lease.RecordKey(id), quorum)
	if err != nil {
		return lease.Record{}, nil, err
	}
	rec, ok := lease.Live(res.Clock.Live())
	if !res.Found || !ok {
		return lease.Record{}, nil, &lease.NotFoundError{ID: id}
	}
	return rec, res.Clock.Context(), nil
}

// revokeLease deletes id and its keys now.
func (n *Node) revokeLease(ctx context.Context, id lease.ID) (int, error) {
	if _, _, err := n.readLease(ctx, id); err != nil {
		return 0, err
	}
	keys, err := n.endLease(ctx, id, false)
	if err == nil {
		n.leases.mu.Lock()
		n.leases.stats.revoked++
		n.leases.mu.Unlock()
	}
	return keys, err
}

// endLease deletes id's record (so keep-alives fail from then on), then
// every key attached to it, each with the context its attachment holds (a
// causal delete: a later write of the key survives), and the attachments.
// An end cut short is finished by a later sweep (the record is deleted,
// attachments are live). expired marks the tombstones as an expiry's; a
// lease whose record is deleted already is finished as it ended (marked
// when its record's tombstone is). It returns the keys deleted.
func (n *Node) endLease(ctx context.Context, id lease.ID, expired bool) (int, error) {
	res, err := n.coord.Get(ctx, lease.RecordKey(id), quorum)
	if err != nil {
		return 0, err
	}
	switch {
	case res.Clock.AllTombstones():
		// Ended already: finish it as it ended (an expiry marks the
		// record's tombstone as it marks the keys').
		expired = lease.ExpiredBy(res.Clock)
	case !res.Clock.IsEmpty():
		del := coordinator.Write{Key: lease.RecordKey(id), Tombstone: true, Context: res.Clock.Context(), Consistency: quorum}
		if expired {
			del.Value = lease.ExpiredMark(id)
		}
		if _, err := n.coord.Put(ctx, del); err != nil {
			return 0, err
		}
	}
	n.leases.mu.Lock()
	n.leases.table.Forget(id)
	n.leases.mu.Unlock()
	answers, err := n.askLeaseReplicas(ctx, id, &api.LeasePeerRequest{Keys: true})
	if err != nil {
		return 0, err
	}
	seen, deleted := map[string]bool{}, 0
	for _, e := range answers {
		for _, key := range e.GetKeys() {
			if seen[string(key)] {
				continue
			}
			seen[string(key)] = true
			if err := n.detach(ctx, id, key, expired); err != nil {
				return deleted, err
			}
			deleted++
		}
	}
	return deleted, nil
}

// detach deletes key as its lease id wrote it, then the attachment; the
// tombstone of an expired lease's key carries the expiry's mark.
func (n *Node) detach(ctx context.Context, id lease.ID, key []byte, expired bool) error {
	att, err := n.coord.Get(ctx, lease.AttachKey(id, key), quorum)
	if err != nil {
		return err
	}
	var wrote vclock.VV
	pending := false
	for _, v := range att.Clock.Live() {
		if len(v) == 0 {
			pending = true // the put may have landed; its context never did
			continue
		}
		if c, err := vclock.ParseToken(string(v)); err == nil {
			wrote = vclock.Join(wrote, c)
		}
	}
	if pending {
		res, err := n.coord.Get(ctx, key, quorum)
		if err != nil {
			return err
		}
		wrote = vclock.Join(wrote, res.Clock.Context())
	}
	if len(wrote) > 0 {
		del := coordinator.Write{Key: key, Tombstone: true, Context: wrote, Consistency: quorum}
		if expired {
			del.Value = lease.ExpiredMark(id)
		}
		if _, err := n.coord.Put(ctx, del); err != nil {
			return err
		}
	}
	if att.Found {
		_, err = n.coord.Put(ctx, coordinator.Write{Key: lease.AttachKey(id, key), Tombstone: true, Context: att.Clock.Context(), Consistency: quorum})
	}
	return err
}

// putWithLease writes w attached to id: the lease must be live; the
// attachment is written before the key (an empty marker) and after it
// (the context the put returned), so an expiry always finds the key and
// deletes only what the lease wrote.
func (n *Node) putWithLease(ctx context.Context, id lease.ID, w coordinator.Write) (coordinator.WriteResult, error) {
	if _, _, err := n.readLease(ctx, id); err != nil {
		return coordinator.WriteResult{}, err
	}
	ak := lease.AttachKey(id, w.Key)
	marker, err := n.coord.Put(ctx, coordinator.Write{Key: ak, Value: []byte{}, Consistency: quorum})
	if err != nil {
		return coordinator.WriteResult{}, err
	}
	res, err := n.coord.Put(ctx, w)
	if err != nil {
		return res, err
	}
	token := res.Clock.Context().Token()
	if _, err := n.coord.Put(ctx, coordinator.Write{Key: ak, Value: []byte(token), Context: marker.Clock.Context(), Consistency: quorum}); err != nil {
		return res, err
	}
	return res, nil
}
