package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/httpadmin"
	"github.com/quorumkv/quorumkv/internal/ringverdict"
	"github.com/quorumkv/quorumkv/ring"
)

// startHTTP opens the admin HTTP port (Config.HTTP; package httpadmin). A
// port the node derived itself (Config.HTTPDerived) that cannot be bound
// is logged and left off; one the operator gave is an error.
func (n *Node) startHTTP() error {
	if n.cfg.HTTP == "" {
		return nil
	}
	s, err := httpadmin.Listen(n.cfg.HTTP, httpadmin.Handler(adminSource{n}, n.metrics.reg))
	if err != nil {
		if n.cfg.HTTPDerived {
			n.log.Warn("admin HTTP port not opened (give --http to choose one)", "addr", n.cfg.HTTP, "err", err)
			return nil
		}
		return fmt.Errorf("node: --http %s: %w", n.cfg.HTTP, err)
	}
	n.httpMu.Lock()
	n.http = s
	n.httpMu.Unlock()
	return nil
}

func (n *Node) stopHTTP() {
	n.httpMu.Lock()
	s := n.http
	n.http = nil
	n.httpMu.Unlock()
	if s != nil {
		s.Close()
	}
}

// HTTPAddr is the admin HTTP port's address ("" when off).
func (n *Node) HTTPAddr() string {
	n.httpMu.Lock()
	defer n.httpMu.Unlock()
	if n.http == nil {
		return ""
	}
	return n.http.Addr()
}

// errDraining: the node is stopping.
var errDraining = errors.New("draining")

// Ready is nil when the node is a valid member of a formed ring with its
// store open, else why not (the admin port's /readyz).
func (n *Node) Ready() error {
	select {
	case <-n.draining:
		return errDraining
	default:
	}
	if n.store == nil || n.members == nil {
		return errors.New("starting: stores not open")
	}
	v := n.members.View()
	if v == nil || v.Ring == nil || len(v.Ring.Members()) == 0 {
		return errors.New("no ring formed yet")
	}
	st := n.members.StateOf(n.cfg.ID)
	if !slices.Contains(v.Ring.Members(), n.cfg.ID) || st != ring.StateValid {
		return fmt.Errorf("this node is %s, not a valid member of the ring (epoch %d)", st, v.Epoch)
	}
	return nil
}

// adminSource is the node as its admin port reads it: readiness and the
// ring as `quorumkv ring status` would show it if asked of this node.
type adminSource struct{ n *Node }

func (a adminSource) Ready() error { return a.n.Ready() }

func (a adminSource) RingStatus(ctx context.Context) (httpadmin.RingStatus, error) {
	return a.n.ringPage(ctx)
}

// memberStatusWait bounds how long the ring page waits for one member's
// own state: one that does not answer in time shows as unknown ("?").
const memberStatusWait = 2 * time.Second

// ringPage gathers what `quorumkv ring status` shows when asked of this
// node (/ring, /ring.json): this node's Admin.RingStatus, then every up
// member's Admin.NodeStatus and Admin.Transfers, asked of the member
// itself, and the same verdict line (package ringverdict).
func (n *Node) ringPage(ctx context.Context) (httpadmin.RingStatus, error) {
	if n.store == nil || n.members == nil || n.ae == nil {
		return httpadmin.RingStatus{}, errors.New("starting: stores not open")
	}
	rs := n.ringStatus()
	out := httpadmin.RingStatus{Node: rs.GetNode(), Replicas: int(rs.GetReplicas()), Partitions: int(rs.GetPartitions()), Epoch: rs.GetEpoch()}
	ms := rs.GetMembers()
	out.Members = make([]httpadmin.RingMember, len(ms))
	per := make([][]httpadmin.RingTransfer, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		st := "down"
		if m.GetUp() {
			st = "up"
		}
		out.Members[i] = httpadmin.RingMember{
			ID: m.GetId(), Address: m.GetAddress(), Zone: m.GetZone(), Status: st, State: m.GetState(),
			Partitions: int(m.GetPartitions()), Owned: int(m.GetOwned()), HintsPending: -1, TransfersInFlight: -1,
		}
		if !m.GetUp() {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, memberStatusWait)
			defer cancel()
			mem := &out.Members[i]
			if ns, err := n.memberNodeStatus(ctx, mem.ID); err == nil {
				fillNodeStatus(mem, ns)
			}
			if ts, err := n.memberTransfers(ctx, mem.ID); err == nil {
				per[i] = transfersOf(ts)
				mem.TransfersInFlight = len(per[i])
			}
		})
	}
	wg.Wait()
	out.Transfers = []httpadmin.RingTransfer{}
	vm := make([]ringverdict.Member, len(out.Members))
	for i, m := range out.Members {
		out.Transfers = append(out.Transfers, per[i]...)
		vm[i] = ringverdict.Member{ID: m.ID, Up: m.Status == "up", State: m.State, DiskFull: m.DiskFull, Repairing: m.Repairing}
	}
	out.Verdict = ringverdict.Line(vm, out.Replicas, len(out.Transfers))
	return out, nil
}

// memberNodeStatus is member id's Admin.NodeStatus (this node's own
// without a call).
func (n *Node) memberNodeStatus(ctx context.Context, id string) (*api.NodeStatusResponse, error) {
	if id == n.cfg.ID {
		return (&adminServer{n: n}).NodeStatus(ctx, &api.NodeStatusRequest{})
	}
	return n.transport.NodeStatus(ctx, id)
}

// memberTransfers is member id's Admin.Transfers.
func (n *Node) memberTransfers(ctx context.Context, id string) (*api.TransfersResponse, error) {
	if id == n.cfg.ID {
		return (&adminServer{n: n}).Transfers(ctx, &api.TransfersRequest{})
	}
	return n.transport.Transfers(ctx, id)
}

// fillNodeStatus sets m's fields from its own NodeStatus, as `ring status`
// does.
func fillNodeStatus(m *httpadmin.RingMember, ns *api.NodeStatusResponse) {
	m.HintsPending = int64(ns.GetHintsPending())
	m.DiskFull = ns.GetDiskFull()
	m.Repairing = int(ns.GetRepairingPartitions())
	if ms := ns.GetLastExchangeUnixMs(); ms > 0 {
		m.LastExchange = time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	if ls := ns.GetLeases(); ls != nil && ls.GetFrozen() {
		m.LeaseExpiryFrozen, m.LeasesOverdue = true, ls.GetOverdue()
	}
}

func transfersOf(resp *api.TransfersResponse) []httpadmin.RingTransfer {
	var out []httpadmin.RingTransfer
	for _, t := range resp.GetTransfers() {
		out = append(out, httpadmin.RingTransfer{
			Node: resp.GetNode(), Partition: int(t.GetPartition()), Sources: t.GetSources(), State: t.GetState(),
			KeysMoved: t.GetKeysMoved(), Error: t.GetError(),
			Since: time.UnixMilli(t.GetSinceUnixMs()).UTC().Format(time.RFC3339),
		})
	}
	return out
}
