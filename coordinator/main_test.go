package coordinator

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/quorumkv/quorumkv/vclock"
)

// asyncApplies makes every fake transport an AsyncApplier and AsyncReader. TestMain runs
// the package twice, without and with it, so both ways of replicating a
// write are tested.
var asyncApplies bool

// TestMain fails the package if any test leaves a goroutine behind: every
// background send and read repair must end by Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(twice{m})
}

type twice struct{ m *testing.M }

func (t twice) Run() int {
	if code := t.m.Run(); code != 0 {
		return code
	}
	asyncApplies = true
	return t.m.Run()
}

// asyncTransport adds ApplyAsync and ReadAsync to a fake transport.
type asyncTransport struct{ *fakeTransport }

func (tr asyncTransport) ApplyAsync(ctx context.Context, node string, key []byte, c vclock.Clock, done func(error)) {
	go func() { done(tr.Apply(ctx, node, key, c)) }()
}

func (tr asyncTransport) ReadAsync(ctx context.Context, node string, key []byte, done func(vclock.Clock, bool, error)) {
	go func() { done(tr.Read(ctx, node, key)) }()
}

func transportFor(tr *fakeTransport) Transport {
	if asyncApplies {
		return asyncTransport{tr}
	}
	return tr
}
