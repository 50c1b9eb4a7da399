package discovery

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func goodAnnouncement() Announcement {
	return Announcement{ClusterHash: "0123456789abcdef", Cluster: "quorumkv", NodeID: "n1", Gossip: "10.77.1.11:7201"}
}

func TestAnnouncementRoundTrip(t *testing.T) {
	for _, a := range []Announcement{
		goodAnnouncement(),
		{ClusterHash: "ffffffffffffffff", Cluster: strings.Repeat("c", maxClusterName), NodeID: strings.Repeat("é", maxNodeID/2), Gossip: "[fd00::1234:5678:9abc:def0]:65535"},
	} {
		b, err := a.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxAnnouncement {
			t.Fatalf("%d bytes, more than MaxAnnouncement", len(b))
		}
		got, err := UnmarshalAnnouncement(b)
		if err != nil || got != a {
			t.Fatalf("round trip: %+v, %v; want %+v", got, err, a)
		}
	}
}

func TestAnnouncementRejects(t *testing.T) {
	good, _ := goodAnnouncement().Marshal()
	mut := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, b := range map[string][]byte{
		"empty":          nil,
		"magic":          mut(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version":        mut(func(b []byte) []byte { b[4] = 2; return b }),
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"length past":    mut(func(b []byte) []byte { b[13] = 200; return b }),
		"empty cluster":  mut(func(b []byte) []byte { return append(b[:13:13], append([]byte{0}, b[13+1+8:]...)...) }),
		"control char":   mut(func(b []byte) []byte { b[14] = '\n'; return b }),
		"not utf-8":      mut(func(b []byte) []byte { b[14] = 0xff; return b }),
		"too long":       make([]byte, MaxAnnouncement+1),
		"only the magic": []byte("QKVD"),
	} {
		if a, err := UnmarshalAnnouncement(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: decoded %+v, %v", name, a, err)
		}
	}
	for name, a := range map[string]Announcement{
		"hash":             {ClusterHash: "0123", Cluster: "c", NodeID: "n", Gossip: "10.0.0.1:1"},
		"no id":            {ClusterHash: "0123456789abcdef", Cluster: "c", Gossip: "10.0.0.1:1"},
		"long id":          {ClusterHash: "0123456789abcdef", Cluster: "c", NodeID: strings.Repeat("n", maxNodeID+1), Gossip: "10.0.0.1:1"},
		"gossip name":      {ClusterHash: "0123456789abcdef", Cluster: "c", NodeID: "n", Gossip: "host:7201"},
		"gossip port 0":    {ClusterHash: "0123456789abcdef", Cluster: "c", NodeID: "n", Gossip: "10.0.0.1:0"},
		"gossip any":       {ClusterHash: "0123456789abcdef", Cluster: "c", NodeID: "n", Gossip: "0.0.0.0:7201"},
		"gossip multicast": {ClusterHash: "0123456789abcdef", Cluster: "c", NodeID: "n", Gossip: "239.255.71.1:7201"},
		"gossip written":   {ClusterHash: "0123456789abcdef", Cluster: "c", NodeID: "n", Gossip: "[0:0::1]:7201"},
	} {
		if _, err := a.Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: encoded (%v)", name, err)
		}
	}
}

// FuzzUnmarshalAnnouncement: any datagram decodes or is refused, never a
// panic; whatever decodes is valid and encodes back to the same bytes.
func FuzzUnmarshalAnnouncement(f *testing.F) {
	good, _ := goodAnnouncement().Marshal()
	f.Add(good)
	f.Add([]byte("QKVD\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := UnmarshalAnnouncement(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("decoded an invalid announcement %+v: %v", a, err)
		}
		back, err := a.Marshal()
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("re-encoding %+v: %x, %v; want %x", a, back, err, b)
		}
	})
}
