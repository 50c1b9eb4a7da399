package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/vclock"
)

// ErrCompacted: a watch's token is older than every replica's change log.
// List the keys again and watch from now (From empty).
var ErrCompacted = errors.New("watch token compacted")

// WatchSpec says what a watch follows: one Key, or the keys of a Group
// (the text between the braces of keys like "svc/{payments}/i-1"),
// optionally only those starting with Prefix; From resumes after the event
// that carried that token.
type WatchSpec struct {
	Key    []byte
	Group  string
	Prefix []byte
	From   string
}

// WatchEvent is one change. Type is "put", "delete" (deleted, or its lease
// revoked), "expire" (its lease expired) or "progress" (a token only: the
// first event of every watch, and now and then while nothing changes).
type WatchEvent struct {
	Type    string
	Key     []byte
	Values  [][]byte
	Context string
	Token   string
}

// Watch calls fn with each event until ctx ends (nil), fn fails (its
// error), the token is compacted (ErrCompacted) or the request is invalid.
// When a node fails, the watch continues through the next endpoint from
// the last token; events may come again, never one that goes backwards for
// its key (an event whose context the last one of its key covers is
// dropped).
func (c *Client) Watch(ctx context.Context, spec WatchSpec, fn func(WatchEvent) error) error {
	last := map[string]string{} // each key's last context token
	pause := 100 * time.Millisecond
	for try, i := 0, c.streamStart(); ; try, i = try+1, i+1 {
		e := c.endpoints[i%len(c.endpoints)]
		err := c.watchOn(ctx, e, &spec, last, try > 0, fn)
		var fnErr fnError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &fnErr):
			return fnErr.err
		case errors.Is(err, ErrCompacted), errors.Is(err, ErrInvalidArgument):
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// fnError is the callback's own error, which ends the watch.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// watchOn runs the watch on one endpoint until its stream fails. One
// stream never sends a key backwards; a resumed one (after a failure) may
// send again what an earlier one sent, so its events are checked against
// the last context of their key.
func (c *Client) watchOn(ctx context.Context, e endpoint, spec *WatchSpec, last map[string]string, resumed bool, fn func(WatchEvent) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := api.NewWatchClient(e.cc).Watch(ctx, &api.WatchRequest{Key: spec.Key, Group: spec.Group, Prefix: spec.Prefix, From: spec.From})
	if err != nil {
		return watchErr(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return err
			}
			return watchErr(err)
		}
		spec.From = ev.GetToken()
		out := WatchEvent{Key: ev.GetKey(), Values: ev.GetValues(), Context: ev.GetContext(), Token: ev.GetToken()}
		switch ev.GetType() {
		case api.WatchEvent_PUT:
			out.Type = "put"
		case api.WatchEvent_DELETE:
			out.Type = "delete"
		case api.WatchEvent_EXPIRE:
			out.Type = "expire"
		default:
			out.Type = "progress"
		}
		if out.Type != "progress" {
			if prev, ok := last[string(out.Key)]; ok && resumed && covers(prev, out.Context) {
				continue // already seen, or older than what was
			}
			last[string(out.Key)] = out.Context
		}
		if err := fn(out); err != nil {
			return fnError{err}
		}
	}
}

// covers reports whether context token prev covers next (an event with
// next is not newer); a token that does not parse covers nothing.
func covers(prev, next string) bool {
	if prev == next {
		return true
	}
	p, err1 := vclock.ParseToken(prev)
	n, err2 := vclock.ParseToken(next)
	return err1 == nil && err2 == nil && vclock.Descends(p, n)
}

func watchErr(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch {
	case api.ErrorInfo(st).GetReason() == api.ReasonCompacted:
		return fmt.Errorf("%w: %s", ErrCompacted, st.Message())
	case st.Code() == codes.InvalidArgument:
		return fmt.Errorf("%w: %s", ErrInvalidArgument, st.Message())
	}
	return err
}
