package discovery

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEntry(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Entry
	}{
		{"10.0.0.1:7201", Entry{Kind: KindAddr, Raw: "10.0.0.1:7201"}},
		{"quorumkv-0.quorumkv:7201", Entry{Kind: KindAddr, Raw: "quorumkv-0.quorumkv:7201"}},
		{"[::1]:7201", Entry{Kind: KindAddr, Raw: "[::1]:7201"}},
		{"dns:quorumkv.default.svc.cluster.local:7201", Entry{Kind: KindDNS, Raw: "dns:quorumkv.default.svc.cluster.local:7201", Name: "quorumkv.default.svc.cluster.local", Port: 7201}},
		{"dns:qkv.test.:1", Entry{Kind: KindDNS, Raw: "dns:qkv.test.:1", Name: "qkv.test.", Port: 1}},
		{"dns+srv:_gossip._tcp.quorumkv.default.svc", Entry{Kind: KindSRV, Raw: "dns+srv:_gossip._tcp.quorumkv.default.svc", Name: "_gossip._tcp.quorumkv.default.svc"}},
	} {
		got, err := ParseEntry(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseEntry(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseEntryRejects(t *testing.T) {
	for _, tc := range []struct{ in, says string }{
		{"dns:qkv.test", "missing port"},
		{"dns:qkv.test:", "missing port"},
		{"dns::7201", "empty name"},
		{"dns:", "missing port"},
		{"dns:qkv.test:0", "bad port"},
		{"dns:qkv.test:70000", "bad port"},
		{"dns:qkv.test:http", "bad port"},
		{"dns:qkv.test:+7201", "bad port"},
		{"dns:qkv..test:7201", "bad name"},
		{"dns:q kv.test:7201", "bad name"},
		{"dns:" + strings.Repeat("a", 64) + ".test:7201", "bad name"},
		{"dns:" + strings.Repeat("abcdefgh.", 30) + "test:7201", "longer than"},
		{"dns+srv:", "empty name"},
		{"dns+srv:_g._tcp.qkv:7201", "takes no port"},
		{"host", "want host:port"},
		{":7201", "no host"},
		{"host:0", "bad port"},
		{"dsn:qkv.test:7201", "want host:port"},
	} {
		_, err := ParseEntry(tc.in)
		var ee *EntryError
		if !errors.As(err, &ee) || !errors.Is(err, ErrBadEntry) || ee.Entry != tc.in {
			t.Errorf("ParseEntry(%q): %v, want an *EntryError naming it", tc.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), tc.in) {
			t.Errorf("ParseEntry(%q): %q does not say %q and name the entry", tc.in, err, tc.says)
		}
	}
}

func TestParseJoin(t *testing.T) {
	addrs, names, err := ParseJoin([]string{"10.0.0.1:7201", "dns:qkv.test:7201", "dns+srv:_g._tcp.qkv.test"})
	if err != nil || len(addrs) != 1 || addrs[0] != "10.0.0.1:7201" || len(names) != 2 || names[0].Kind != KindDNS || names[1].Kind != KindSRV {
		t.Fatalf("ParseJoin = %v %+v %v", addrs, names, err)
	}
	if _, _, err := ParseJoin([]string{"10.0.0.1:7201", "dns:nope"}); !errors.Is(err, ErrBadEntry) {
		t.Fatalf("ParseJoin of a bad entry: %v", err)
	}
}
