package nemesis

import "testing"

// The delete chains' verdicts: a value an acknowledged delete covers must
// not come back, the last acknowledged put must be there unless a delete
// was attempted after it, and nothing never written may appear.
func TestDeleteChainVerdicts(t *testing.T) {
	put := func(v string, acked bool) delOp { return delOp{put: true, value: "k=" + v, acked: acked} }
	del := func(acked bool) delOp { return delOp{acked: acked} }
	cases := []struct {
		name   string
		ops    []delOp
		values []string
		want   verdict
	}{
		{"deleted and gone", []delOp{put("v1", true), del(true)}, nil, verdict{}},
		{"deleted value back", []delOp{put("v1", true), del(true)}, []string{"k=v1"}, verdict{Resurrected: 1}},
		{"re-created", []delOp{put("v1", true), del(true), put("v2", true)}, []string{"k=v2"}, verdict{}},
		{"re-created, masked", []delOp{put("v1", true), del(true), put("v2", true)}, nil, verdict{Lost: 1}},
		{"re-created, older value back", []delOp{put("v1", true), del(true), put("v2", true)}, []string{"k=v1", "k=v2"}, verdict{Resurrected: 1}},
		{"third version deleted, second back", []delOp{put("v1", true), del(true), put("v2", true), del(true), put("v3", true), del(true)}, []string{"k=v2"}, verdict{Resurrected: 1}},
		{"failed delete: either way", []delOp{put("v1", true), del(false)}, []string{"k=v1"}, verdict{}},
		{"failed delete: gone", []delOp{put("v1", true), del(false)}, nil, verdict{}},
		{"failed put: either way", []delOp{put("v1", true), del(true), put("v2", false)}, []string{"k=v2"}, verdict{}},
		{"failed put, older back", []delOp{put("v1", true), del(true), put("v2", false)}, []string{"k=v1"}, verdict{Resurrected: 1}},
		{"never written", []delOp{put("v1", true), del(true)}, []string{"k=v9"}, verdict{Unexpected: 1}},
		{"applied twice", []delOp{put("v1", true)}, []string{"k=v1", "k=v1"}, verdict{Unexpected: 1, Duplicated: 1}},
	}
	for _, c := range cases {
		m := newModel()
		m.dels["k"] = &delKey{ops: c.ops}
		var vals [][]byte
		for _, v := range c.values {
			vals = append(vals, []byte(v))
		}
		got := m.check("test", "k", vals)
		if got.Lost != c.want.Lost || got.Unexpected != c.want.Unexpected || got.Resurrected != c.want.Resurrected || got.Duplicated != c.want.Duplicated {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}
