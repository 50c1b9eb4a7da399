package node

import (
	"sync"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/vclock"
)

// pipeWorkers bounds the batches one peer's stream has in progress here; a
// peer that sends faster waits (gRPC flow control).
const pipeWorkers = 32

// Pipe serves a peer's stream of batched applies and reads. Each batch runs
// on its own goroutine, so a batch of reads is answered while a batch of
// applies waits for its fsync. When the node drains, the stream ends after
// the batches in progress are answered; the peer treats what it sent later
// as unanswered.
func (s *replicaServer) Pipe(stream api.Replica_PipeServer) error {
	reqs := make(chan *api.PipeRequest)
	go func() { // ends when the stream does (after Pipe returns at the latest)
		defer close(reqs)
		for {
			req, err := stream.Recv()
			if err != nil {
				return
			}
			select {
			case reqs <- req:
			case <-stream.Context().Done():
				return
			}
		}
	}()
	out := make(chan *api.PipeResponse, pipeWorkers)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		failed := false
		for resp := range out {
			if !failed && stream.Send(resp) != nil {
				failed = true // keep draining: workers must not block
			}
		}
	}()
	var wg sync.WaitGroup
	slots := make(chan struct{}, pipeWorkers)
serve:
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				break serve
			}
			slots <- struct{}{}
			wg.Go(func() {
				out <- s.serveBatch(req)
				<-slots
			})
		case <-s.n.draining:
			break serve
		}
	}
	wg.Wait()
	close(out)
	<-sent
	return nil
}

func (s *replicaServer) serveBatch(req *api.PipeRequest) *api.PipeResponse {
	if len(req.GetReads()) > 0 {
		return s.readBatch(req)
	}
	return &api.PipeResponse{Id: req.GetId(), Errors: s.applyBatch(req.GetApplies())}
}

func (s *replicaServer) readBatch(req *api.PipeRequest) *api.PipeResponse {
	resp := &api.PipeResponse{Id: req.GetId(), Reads: make([]*api.ReadResponse, len(req.GetReads()))}
	for i, r := range req.GetReads() {
		c, found, err := s.n.store.Get(r.GetKey())
		if err != nil {
			if resp.Errors == nil {
				resp.Errors = make([]string, len(req.GetReads()))
			}
			resp.Errors[i] = err.Error()
		}
		resp.Reads[i] = &api.ReadResponse{Found: found, Clock: c.Marshal()}
	}
	return resp
}

// applyBatch merges every item with one durable write; errs[i] is item i's
// failure, empty when it was applied.
func (s *replicaServer) applyBatch(reqs []*api.ApplyRequest) []string {
	items := make([]replica.Item, len(reqs))
	errs := make([]string, len(reqs))
	bad := make([]bool, len(reqs))
	for i, it := range reqs {
		c, err := vclock.Unmarshal(it.GetClock())
		if err != nil {
			errs[i], bad[i] = "corrupt object: "+err.Error(), true
			continue
		}
		items[i] = replica.Item{Key: it.GetKey(), Clock: c}
	}
	if s.n.cfg.TestBug == "skip-apply" {
		return errs // deliberately broken (fault tests)
	}
	for i, err := range s.n.store.ApplyMany(items) {
		if err != nil && !bad[i] {
			errs[i] = err.Error()
		}
	}
	return errs
}
