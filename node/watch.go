package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/ring"
	"github.com/quorumkv/quorumkv/vclock"
)

// A watch (docs/design.md, "Watch") reads the change logs of its
// partition's replicas, one long-polling reader each, and merges them: a
// key's event carries the merge (vclock.Sync) of every state read for it
// in this watch, sent only when that merge changed, so a key never goes
// backwards. The token is where each replica's log was read up to.

// watchProgressEvery: a watch with nothing to send sends a progress event
// (a fresh token) this often.
const watchProgressEvery = 5 * time.Second

// watchServer is the public Watch service.
type watchServer struct {
	api.UnimplementedWatchServer
	n *Node
}

// watchFilter selects the keys of a watch.
type watchFilter struct {
	key    []byte
	group  []byte
	prefix []byte
}

func (f watchFilter) match(k []byte) bool {
	if f.key != nil {
		return bytes.Equal(k, f.key)
	}
	return bytes.Equal(ring.GroupOf(k), f.group) && bytes.Contains(k, []byte("{"+string(f.group)+"}")) && bytes.HasPrefix(k, f.prefix)
}

// partitionKey is a key placed where the filter's keys are.
func (f watchFilter) partitionKey() []byte {
	if f.key != nil {
		return f.key
	}
	return []byte("{" + string(f.group) + "}")
}

func parseWatch(req *api.WatchRequest) (watchFilter, error) {
	key, group, prefix := req.GetKey(), req.GetGroup(), req.GetPrefix()
	switch {
	case len(key) > 0 && group != "":
		return watchFilter{}, status.Error(codes.InvalidArgument, "watch a key or a group, not both")
	case len(key) == 0 && group == "":
		return watchFilter{}, status.Error(codes.InvalidArgument, "watch needs a key or a group")
	case len(prefix) > 0 && group == "":
		return watchFilter{}, status.Error(codes.InvalidArgument, "a prefix narrows a group watch; give --group")
	case bytes.ContainsAny([]byte(group), "{}"):
		return watchFilter{}, status.Errorf(codes.InvalidArgument, "group %q: a group is the text between the braces, without them", group)
	}
	if len(key) > 0 {
		return watchFilter{key: key}, nil
	}
	return watchFilter{group: []byte(group), prefix: prefix}, nil
}

func encodeToken(t *api.WatchToken) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (*api.WatchToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	t := &api.WatchToken{}
	if err == nil {
		err = proto.Unmarshal(b, t)
	}
	if err != nil || len(t.GetCursors()) > 64 {
		return nil, status.Error(codes.InvalidArgument, "malformed watch token")
	}
	return t, nil
}

// replicaLog is one replica's reader state.
type replicaLog struct {
	node, incarnation string
	seq               uint64
	compacted         bool
}

// logBatch is what one read of a replica's log brought, with each entry's
// clock decoded once for every watch it feeds (empty when the entry has no
// state or it does not decode).
type logBatch struct {
	node   string
	resp   *api.ReadLogResponse
	clocks []vclock.Clock
	err    error
}

func newLogBatch(node string, resp *api.ReadLogResponse, err error) logBatch {
	b := logBatch{node: node, resp: resp, err: err}
	if err == nil && len(resp.GetEntries()) > 0 {
		b.clocks = make([]vclock.Clock, len(resp.GetEntries()))
		for i, e := range resp.GetEntries() {
			if c, err := vclock.Unmarshal(e.GetClock()); err == nil {
				b.clocks[i] = c
			}
		}
	}
	return b
}

func (s *watchServer) Watch(req *api.WatchRequest, stream api.Watch_WatchServer) error {
	f, err := parseWatch(req)
	if err != nil {
		return err
	}
	return s.n.watch(stream.Context(), f, req.GetFrom(), stream.Send)
}

// watch runs one watch until ctx ends or it fails.
func (n *Node) watch(ctx context.Context, f watchFilter, from string, send func(*api.WatchEvent) error) error {
	r := n.members.Ring()
	p := r.Partition(f.partitionKey())
	logs, err := n.startCursors(ctx, p, r.Preference(p), from)
	if err != nil {
		return err
	}
	token := func() string {
		t := &api.WatchToken{Partition: uint32(p)}
		for _, l := range logs {
			t.Cursors = append(t.Cursors, &api.WatchCursor{Node: l.node, Incarnation: l.incarnation, Seq: l.seq})
		}
		return encodeToken(t)
	}
	if err := send(&api.WatchEvent{Type: api.WatchEvent_PROGRESS, Token: token()}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan logBatch, subBuffer*len(logs))
	fellBehind := make(chan struct{})
	var once sync.Once
	drop := func() { once.Do(func() { close(fellBehind) }) }
	for _, l := range logs {
		n.logs.subscribe(ctx, p, l.node, l.seq, batches, drop)
	}
	seen := map[string]vclock.Clock{}
	progress := time.NewTicker(watchProgressEvery)
	defer progress.Stop()
	for {
		var b logBatch
		select {
		case <-ctx.Done():
			return nil
		case <-progress.C:
			if err := send(&api.WatchEvent{Type: api.WatchEvent_PROGRESS, Token: token()}); err != nil {
				return err
			}
			continue
		case <-fellBehind:
			return status.Error(codes.Unavailable, "the watch fell behind its replicas' change logs; resume from the last token")
		case b = <-batches:
		}
		l := logs[slices.IndexFunc(logs, func(l *replicaLog) bool { return l.node == b.node })]
		if b.err == nil {
			if err := n.applyBatch(l, b, f, seen, send, token); err != nil {
				return err
			}
		}
		if allCompacted(logs) {
			return compactedError()
		}
	}
}

// applyBatch merges one read of l's log into the watch and sends the keys
// whose merged state changed.
func (n *Node) applyBatch(l *replicaLog, b logBatch, f watchFilter, seen map[string]vclock.Clock,
	send func(*api.WatchEvent) error, token func() string) error {
	resp := b.resp
	switch {
	case resp.GetCompacted():
		l.compacted = true
		return nil
	case l.incarnation == "":
		// Did not answer when the watch started: watch it from now.
		l.incarnation, l.seq = resp.GetIncarnation(), resp.GetLast()
		return nil
	case l.incarnation != resp.GetIncarnation():
		// Another life of the replica: its sequences start again.
		l.incarnation, l.seq, l.compacted = resp.GetIncarnation(), resp.GetFloor()-1, false
		return nil
	}
	l.compacted = false
	for i, e := range resp.GetEntries() {
		l.seq = max(l.seq, e.GetSeq())
		if !f.match(e.GetKey()) || i >= len(b.clocks) {
			continue
		}
		c := b.clocks[i]
		prev := seen[string(e.GetKey())]
		merged := vclock.Sync(prev, c)
		if merged.IsEmpty() || (len(prev.Entries) > 0 && merged.Equal(prev)) {
			continue
		}
		seen[string(e.GetKey())] = merged
		ev := &api.WatchEvent{Type: api.WatchEvent_PUT, Key: e.GetKey(), Values: merged.Live(), Context: merged.Context().Token(), Token: token()}
		switch {
		case len(ev.Values) > 0:
		case lease.ExpiredBy(merged):
			ev.Type = api.WatchEvent_EXPIRE
		default:
			ev.Type = api.WatchEvent_DELETE
		}
		if err := send(ev); err != nil {
			return err
		}
	}
	return nil
}

func compactedError() error {
	return withReason(codes.OutOfRange, "the watch token is older than every replica's change log: list again and watch from now",
		api.ReasonCompacted, nil)
}

// answeredLogs are the logs of replicas the token names (the others start
// from now and cannot be behind).
func answeredLogs(logs []*replicaLog, known map[string]*api.WatchCursor) []*replicaLog {
	var out []*replicaLog
	for _, l := range logs {
		if _, ok := known[l.node]; ok {
			out = append(out, l)
		}
	}
	return out
}

func allCompacted(logs []*replicaLog) bool {
	for _, l := range logs {
		if !l.compacted {
			return false
		}
	}
	return len(logs) > 0
}

// startCursors is where each replica's log is read from: the token's
// cursor, or (no token, or a replica the token does not name) the log's
// end now. Replicas that do not answer start from the token or from 0.
func (n *Node) startCursors(ctx context.Context, p int, prefs []string, from string) ([]*replicaLog, error) {
	known := map[string]*api.WatchCursor{}
	if from != "" {
		t, err := decodeToken(from)
		if err != nil {
			return nil, err
		}
		if int(t.GetPartition()) != p {
			return nil, status.Errorf(codes.InvalidArgument, "the watch token is for partition %d, this watch reads partition %d", t.GetPartition(), p)
		}
		for _, c := range t.GetCursors() {
			known[c.GetNode()] = c
		}
	}
	var logs []*replicaLog
	answered := 0
	for _, node := range prefs {
		l := &replicaLog{node: node}
		c, ok := known[node]
		resp, err := n.readLogOn(ctx, node, &api.ReadLogRequest{Partition: uint32(p), After: c.GetSeq(), Limit: 0})
		switch {
		case ok:
			l.incarnation, l.seq = c.GetIncarnation(), c.GetSeq()
			l.compacted = err == nil && resp.GetCompacted() && resp.GetIncarnation() == l.incarnation
		case err == nil:
			l.incarnation, l.seq = resp.GetIncarnation(), resp.GetLast()
		}
		if err == nil {
			answered++
		}
		logs = append(logs, l)
	}
	if answered == 0 && from == "" {
		return nil, status.Errorf(codes.Unavailable, "no replica of partition %d answered", p)
	}
	if answered > 0 && allCompacted(answeredLogs(logs, known)) {
		return nil, compactedError()
	}
	return logs, nil
}
