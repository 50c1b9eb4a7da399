package replica

import (
	"encoding/binary"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumkv/quorumkv/antientropy"
)

// TestKeyLayout: every key the store writes has the shape doc.go gives it.
func TestKeyLayout(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, memConfig(fs))
	mustCoordinate(t, s, "live", nil, sib("v"))
	mustApply(t, s, "gone", clock(tombEntry("o#1", 1, 1)))
	if err := s.SaveDoc([]byte("ring")); err != nil {
		t.Fatal(err)
	}
	if err := s.Hints().Set([]byte("n2\x00\x00\x00\x00\x00\x00\x00\x00\x01"), []byte("hint")); err != nil {
		t.Fatal(err)
	}
	ts, err := s.TransferState()
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Set([]byte("owned"), []byte{1}); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)

	db, err := pebble.Open(testDir, &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	want := map[string]bool{
		dataKey(part4([]byte("live")), "live"): true, dataKey(part4([]byte("gone")), "gone"): true,
		"t/" + be16(part4([]byte("gone"))) + "/gone":                             true,
		"c/" + be16(part4([]byte("live"))) + "/\x00\x00\x00\x00\x00\x00\x00\x01": true,
		"c/" + be16(part4([]byte("gone"))) + "/\x00\x00\x00\x00\x00\x00\x00\x01": true,
		"h/n2\x00\x00\x00\x00\x00\x00\x00\x00\x01":                               true,
		"s/identity": true, "s/epoch": true, "s/clean": true, "s/mode": true, "s/ring": true,
		"s/transfer/owned": true,
	}
	for it.First(); it.Valid(); it.Next() {
		k := string(it.Key())
		if !want[k] {
			t.Errorf("key %q is not in the documented layout", k)
		}
		delete(want, k)
	}
	for k := range want {
		t.Errorf("key %q missing", k)
	}
}

func be16(p int) string { return string(binary.BigEndian.AppendUint16(nil, uint16(p))) }

// dataKey is d/<partition>/<segment>/<key>, built here from the parts, not
// with the store's builder.
func dataKey(p int, key string) string {
	return "d/" + be16(p) + "/" + be16(antientropy.Segment([]byte(key))) + "/" + key
}
