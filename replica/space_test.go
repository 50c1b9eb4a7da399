package replica

import (
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestTransferStateMoved: a data directory that keeps partition transfer's
// state under the legacy s/handoff/ prefix opens with that state under the
// transfer space, and the legacy keys are gone (moving twice is a no-op).
func TestTransferStateMoved(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, memConfig(fs))
	legacy := s.space(legacyTransferPrefix)
	for _, kv := range [][2]string{{"owned", "\x0f"}, {"pulling", "\x01"}, {"gen", "\x00\x00\x00\x00\x00\x00\x00\x07"}} {
		if err := legacy.Set([]byte(kv[0]), []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	closeStore(t, s)

	s = mustOpen(t, memConfig(fs))
	for range 2 {
		sp, err := s.TransferState()
		if err != nil {
			t.Fatal(err)
		}
		if got := scanSpace(t, sp); !slices.Equal(got, []string{"gen=\x00\x00\x00\x00\x00\x00\x00\x07", "owned=\x0f", "pulling=\x01"}) {
			t.Fatalf("transfer state %q", got)
		}
		if got := scanSpace(t, s.space(legacyTransferPrefix)); len(got) != 0 {
			t.Fatalf("legacy keys left: %q", got)
		}
	}
	closeStore(t, s)

	// The move was durable.
	s = mustOpen(t, memConfig(fs))
	if got := scanSpace(t, s.space(transferPrefix)); len(got) != 3 {
		t.Fatalf("after reopen: %q", got)
	}
}

func scanSpace(t testing.TB, sp *Space) []string { return scanRange(t, sp, nil, nil) }

// scanRange lists the k=v pairs of sp in [from, to).
func scanRange(t testing.TB, sp *Space, from, to []byte) []string {
	t.Helper()
	var out []string
	if err := sp.Scan(from, to, func(k, v []byte) error {
		out = append(out, string(k)+"="+string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
