package node

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/internal/batch"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/security"
	"github.com/quorumkv/quorumkv/vclock"
)

// pipeWorkers bounds the batches of applies one peer's stream has in
// progress here; a peer that sends faster waits (gRPC flow control).
const pipeWorkers = 32

// Pipe serves a peer's stream of batched applies, reads and Paxos
// prepares and accepts. Reads are answered at once by the receiving
// goroutine (they take microseconds); each batch of applies or of Paxos
// items runs on its own goroutine, since it waits for an fsync. When the node drains, the stream ends after the batches in
// progress are answered; the peer treats what it sent later as unanswered.
func (s *replicaServer) Pipe(stream api.Replica_PipeServer) error {
	s.servePipe(stream)
	return nil
}

// servePipeConn serves a peer's wire pipe (wire.go).
func (s *replicaServer) servePipeConn(c net.Conn) {
	if err := s.n.wireRefusal(c, security.RoleNode, "the peer pipe"); err != nil {
		return
	}
	pc, err := peer.AcceptPipe(c, s.n.wireLimits(s.n.cfg.Limits.PeerMessageMax(s.n.cfg.Replicas)))
	if err != nil {
		s.n.log.Debug("refused a pipe connection", "from", c.RemoteAddr(), "err", err)
		return
	}
	s.servePipe(pc)
}

// pipeServerStream is a pipe's serving end: the Pipe RPC's stream or a
// wire connection.
type pipeServerStream interface {
	Recv() (*api.PipeRequest, error)
	Send(*api.PipeResponse) error
}

// servePipe serves one pipe until the peer ends it, or the node drains and
// the batches in progress are answered.
func (s *replicaServer) servePipe(stream pipeServerStream) {
	p := &pipeServer{s: s, stream: stream, slots: make(chan struct{}, pipeWorkers), out: newPipeSender(stream)}
	received := make(chan struct{})
	go func() { // ends when the stream does (after Pipe returns at the latest)
		defer close(received)
		p.receive()
	}()
	select {
	case <-received:
	case <-s.n.draining:
		p.stop()
	}
	p.wg.Wait()
}

type pipeServer struct {
	s      *replicaServer
	stream pipeServerStream
	slots  chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex // held while a request is dispatched
	stopped bool

	out *batch.Sender[*api.PipeResponse]
}

func (p *pipeServer) receive() {
	for {
		req, err := p.stream.Recv()
		if err != nil || !p.dispatch(req) {
			return
		}
	}
}

// dispatch answers a batch of reads, or starts a batch of applies or of
// Paxos items; false
// once the stream stopped taking requests.
func (p *pipeServer) dispatch(req *api.PipeRequest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.s.n.transport.Learn(req.GetFrom(), req.GetEpoch())
	if len(req.GetPrepares()) > 0 || len(req.GetAccepts()) > 0 {
		// Paxos items answer a removed sender themselves (NOT_REPLICA).
		p.spawn(func() *api.PipeResponse { return p.s.paxosBatch(req) })
		return true
	}
	if p.s.n.removedSender(req.GetFrom()) {
		p.send(p.s.refuseAll(req))
		return true
	}
	if len(req.GetReads()) > 0 {
		p.send(p.s.readBatch(req))
		return true
	}
	p.spawn(func() *api.PipeResponse { return p.s.applyBatch(req) })
	return true
}

// spawn answers a batch that waits for an fsync on a goroutine of its
// own, so the stream's other batches flow meanwhile; at most pipeWorkers
// run at once.
func (p *pipeServer) spawn(answer func() *api.PipeResponse) {
	p.slots <- struct{}{}
	p.wg.Add(1)
	p.s.n.work.Run(func() {
		defer p.wg.Done()
		p.send(answer())
		<-p.slots
	})
}

// stop makes the stream take no more requests; it returns once the one
// being dispatched (if any) is.
func (p *pipeServer) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

// send answers a batch (package batch: a batch finishing while another is
// being sent only queues its answer).
func (p *pipeServer) send(resp *api.PipeResponse) { p.out.Add(resp) }

// newPipeSender sends a pipe's answers, one message each. After a failed
// send nothing more is sent, and a wire connection is closed, so the peer
// fails its pending batches at once instead of waiting for answers that
// will not come.
func newPipeSender(stream pipeServerStream) *batch.Sender[*api.PipeResponse] {
	send := func(b []*api.PipeResponse) error {
		for _, resp := range b {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
		return nil
	}
	closeConn := func() {
		if c, ok := stream.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
	return batch.NewSender(send, nil, closeConn)
}

// readAnswerMax bounds the objects in one answer to a batch of reads, so
// it fits in a message; reads past it are answered with errTooLarge (the
// coordinator counts them as failed replicas and may read elsewhere).
const readAnswerMax = api.MaxMessageSize / 2

const errTooLarge = "answer too large for one batch: read this key again"

// errLateApplies refuses the applies of a batch that arrived too long after
// its sender's deadline (late).
var errLateApplies = errors.New("node: batch of applies arrived too long after its deadline")

// late says how long after its sender's deadline d (Unix ns) a batch of
// applies or a hint arrived, and whether that is past
// Config.lateApplyMargin, so it must be refused. The sender gave up on it
// long ago (it counted the replica as not acknowledging, and hinted the
// write elsewhere); the network held it up — a connection stuck behind a
// partition, whose unacknowledged data the kernel goes on retransmitting
// with a growing back-off, can deliver it a minute later. Applied or held
// then, it could bring back a value whose delete was reaped meanwhile.
// Without a deadline (d == 0: a tool's request) nothing is late.
func (s *replicaServer) late(d int64) (time.Duration, bool) {
	if d == 0 {
		return 0, false
	}
	late := s.n.cfg.Clock.Now().Sub(time.Unix(0, d))
	return late, late > s.n.cfg.lateApplyMargin()
}

// batchAnswer collects a batch's per-item failures.
type batchAnswer struct{ resp *api.PipeResponse }

func newBatchAnswer(id uint64, epoch uint64) batchAnswer {
	return batchAnswer{resp: &api.PipeResponse{Id: id, Epoch: epoch}}
}

// fail records item i of n as failed with err (classified for the sender).
func (b batchAnswer) fail(i, n int, err error, msg string) {
	if b.resp.Errors == nil {
		b.resp.Errors = make([]string, n)
		b.resp.Status = make([]api.ItemStatus, n)
	}
	b.resp.Errors[i], b.resp.Status[i] = msg, peer.ItemStatus(err)
}

// refuseAll answers every item of a batch from a removed sender with
// NOT_REPLICA at this node's epoch.
func (s *replicaServer) refuseAll(req *api.PipeRequest) *api.PipeResponse {
	v := s.n.members.View()
	ans := newBatchAnswer(req.GetId(), v.Epoch)
	n := len(req.GetReads()) + len(req.GetApplies())
	err := s.n.notReplica(v)
	for i := range n {
		ans.fail(i, n, err, "the sender was removed from the cluster: "+err.Error())
	}
	if len(req.GetReads()) > 0 {
		ans.resp.Reads = make([]*api.ReadResponse, n)
		for i := range ans.resp.Reads {
			ans.resp.Reads[i] = &api.ReadResponse{}
		}
	}
	return ans.resp
}

func (s *replicaServer) readBatch(req *api.PipeRequest) *api.PipeResponse {
	v := s.n.members.View()
	ans := newBatchAnswer(req.GetId(), v.Epoch)
	reads := req.GetReads()
	ans.resp.Reads = make([]*api.ReadResponse, len(reads))
	size := 0
	for i, r := range reads {
		ans.resp.Reads[i] = &api.ReadResponse{}
		if err := s.n.readable(v, v.Ring.Partition(r.GetKey())); err != nil {
			ans.fail(i, len(reads), err, err.Error())
			continue
		}
		c, found, err := s.n.store.Get(r.GetKey())
		if err != nil {
			ans.fail(i, len(reads), err, err.Error())
			continue
		}
		enc := c.Marshal()
		if size += len(enc); size > readAnswerMax && i > 0 {
			ans.fail(i, len(reads), nil, errTooLarge)
			ans.resp.Status[i] = api.ItemStatus_ITEM_TOO_LARGE
			continue
		}
		ans.resp.Reads[i] = &api.ReadResponse{Found: found, Clock: enc}
	}
	return ans.resp
}

// applyBatch merges every item this node takes writes for with one durable
// write, and refuses the others; the answer's errors[i] is item i's
// failure, empty when it was applied.
func (s *replicaServer) applyBatch(req *api.PipeRequest) *api.PipeResponse {
	v := s.n.members.View()
	reqs := req.GetApplies()
	ans := newBatchAnswer(req.GetId(), v.Epoch)
	if late, refuse := s.late(req.GetDeadlineUnixNano()); refuse {
		s.n.log.Warn("refused a batch of applies that arrived after its deadline; anti-entropy will repair",
			"from", req.GetFrom(), "late", late, "applies", len(reqs))
		for i := range reqs {
			ans.fail(i, len(reqs), errLateApplies, errLateApplies.Error())
		}
		return ans.resp
	}
	items := make([]replica.Item, 0, len(reqs))
	idx := make([]int, 0, len(reqs)) // items[j] is reqs[idx[j]]
	for i, it := range reqs {
		if !s.n.takesWrites(v, v.Ring.Partition(it.GetKey())) {
			err := s.n.notReplica(v)
			ans.fail(i, len(reqs), err, err.Error())
			continue
		}
		c, err := vclock.Unmarshal(it.GetClock())
		if err != nil {
			bad := fmt.Errorf("%w: corrupt object: %v", replica.ErrBadWrite, err)
			ans.fail(i, len(reqs), bad, bad.Error())
			continue
		}
		items = append(items, replica.Item{Key: it.GetKey(), Clock: c})
		idx = append(idx, i)
	}
	var applied [][]byte
	for j, err := range s.n.replicaWrites.ApplyMany(items) {
		if err != nil {
			ans.fail(idx[j], len(reqs), err, err.Error())
			continue
		}
		applied = append(applied, items[j].Key)
	}
	s.n.forwardApplies(v, req.GetFrom(), applied, req.GetTarget() != "" && req.GetTarget() != v.Target.Signature())

	return ans.resp
}

// paxosBatch answers a batch of prepares or of accepts as the Paxos
// service does (paxosBatch, with every refusal of paxosRefusal); a request
// carrying both is malformed and each of its items is answered PAXOS_BAD.
func (s *replicaServer) paxosBatch(req *api.PipeRequest) *api.PipeResponse {
	prepares, accepts := req.GetPrepares(), req.GetAccepts()
	resp := &api.PipeResponse{Id: req.GetId()}
	if len(prepares) > 0 && len(accepts) > 0 {
		resp.Paxos = make([]*api.PaxosReply, len(prepares)+len(accepts))
		for i := range resp.Paxos {
			resp.Paxos[i] = &api.PaxosReply{Status: api.PaxosStatus_PAXOS_BAD}
		}
	} else {
		accept := len(accepts) > 0
		items := prepares
		if accept {
			items = accepts
		}
		resp.Paxos = s.n.paxosBatch(&api.PaxosBatch{From: req.GetFrom(), Items: items}, accept).GetReplies()
	}
	resp.Epoch = s.n.members.View().Epoch
	return resp
}
