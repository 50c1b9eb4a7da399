package lease

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/ring"
)

func TestIDRoundTrip(t *testing.T) {
	for _, id := range []ID{1, 0xabc, 1<<64 - 1} {
		got, err := ParseID(id.String())
		if err != nil || got != id {
			t.Fatalf("ParseID(%q) = %v, %v", id.String(), got, err)
		}
	}
	for _, bad := range []string{"", "0", "xyz", "12345678901234567", "-1", "+1"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q): %v, want ErrBadID", bad, err)
		}
	}
}

func TestKeysShareTheLeaseGroup(t *testing.T) {
	id := ID(0x1234)
	rec, att := RecordKey(id), AttachKey(id, []byte("svc/{payments}/i-1"))
	if !bytes.Equal(ring.GroupOf(rec), ring.GroupOf(att)) {
		t.Fatalf("groups differ: %q vs %q", ring.GroupOf(rec), ring.GroupOf(att))
	}
	if !IsReserved(rec) || !IsReserved(att) || IsReserved([]byte("a")) || IsReserved(nil) {
		t.Fatal("reserved keys misread")
	}
	tests := []struct {
		key      []byte
		id       ID
		attached string
		ok       bool
	}{
		{rec, id, "", true},
		{att, id, "svc/{payments}/i-1", true},
		{[]byte("\x00lease/{0000000000001234}/k/"), 0, "", false},
		{[]byte("\x00lease/{1234}"), 0, "", false},
		{[]byte("\x00lease/{0000000000001234}x"), 0, "", false},
		{[]byte("\x00lease/{0000000000000000}"), 0, "", false},
		{[]byte("lease/{0000000000001234}"), 0, "", false},
	}
	for _, tc := range tests {
		got, attached, err := ParseKey(tc.key)
		if (err == nil) != tc.ok || got != tc.id || string(attached) != tc.attached {
			t.Errorf("ParseKey(%q) = %v, %q, %v", tc.key, got, attached, err)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := Record{TTL: 2500 * time.Millisecond}
	got, err := UnmarshalRecord(r.Marshal())
	if err != nil || got != r {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 10}, append(Record{TTL: time.Second}.Marshal(), 0), {1, 0}} {
		if _, err := UnmarshalRecord(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("UnmarshalRecord(%x): %v", bad, err)
		}
	}
	if CheckTTL(time.Millisecond) == nil || CheckTTL(25*time.Hour) == nil || CheckTTL(time.Second) != nil {
		t.Fatal("CheckTTL bounds")
	}
}

func FuzzUnmarshalRecord(f *testing.F) {
	f.Add(Record{TTL: time.Second}.Marshal())
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRecord(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatalf("%x decodes to %v, which encodes as %x", b, r, r.Marshal())
		}
	})
}

func TestTableNeverExpiresEarly(t *testing.T) {
	tb := NewTable()
	tb.Seen(1, 10*time.Second) // first sight counts as a renewal
	if age, ok := tb.Age(1, 12*time.Second); !ok || age != 2*time.Second {
		t.Fatalf("age %v %v", age, ok)
	}
	tb.Renew(1, 11*time.Second)
	tb.Renew(1, 9*time.Second) // an older renewal never moves the time back
	tb.Seen(1, 20*time.Second) // nor does seeing the record again
	if age, _ := tb.Age(1, 12*time.Second); age != time.Second {
		t.Fatalf("age %v, want 1s", age)
	}
	tb.Retain(func(id ID) bool { return id != 1 })
	if _, ok := tb.Age(1, 0); ok || tb.Len() != 0 {
		t.Fatal("Retain kept a lease")
	}
}

func TestSweep(t *testing.T) {
	c := DefaultConfig() // grace 1s, stagger 500ms, 15 %
	held := func(n int, age time.Duration, rank int) []Held {
		var out []Held
		for i := range n {
			out = append(out, Held{ID: ID(i + 1), TTL: 2 * time.Second, Age: age, Rank: rank})
		}
		return out
	}
	tests := []struct {
		name                string
		in                  SweepInput
		expire, due, capped int
		frozen              bool
	}{
		{"within ttl+grace", SweepInput{Held: held(3, 3*time.Second, 0), MembersUp: 3, Members: 3, Budget: 100}, 0, 0, 0, false},
		{"past it", SweepInput{Held: held(3, 3100*time.Millisecond, 0), MembersUp: 3, Members: 3, Budget: 100}, 1, 3, 2, false},
		{"second replica waits its stagger", SweepInput{Held: held(3, 3100*time.Millisecond, 1), MembersUp: 3, Members: 3, Budget: 100}, 0, 0, 0, false},
		{"share cap", SweepInput{Held: held(100, time.Minute, 0), MembersUp: 3, Members: 3, Budget: 100}, 15, 100, 85, false},
		{"rate cap", SweepInput{Held: held(100, time.Minute, 0), MembersUp: 3, Members: 3, Budget: 4}, 4, 100, 96, false},
		{"no majority up", SweepInput{Held: held(3, time.Minute, 0), MembersUp: 2, Members: 4, Budget: 100}, 0, 3, 0, true},
		{"majority up", SweepInput{Held: held(3, time.Minute, 0), MembersUp: 3, Members: 4, Budget: 100}, 1, 3, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := c.Sweep(tc.in)
			if len(v.Expire) != tc.expire || v.Due != tc.due || v.Capped != tc.capped || v.Frozen != tc.frozen {
				t.Fatalf("got %+v", v)
			}
		})
	}
	// Most overdue first.
	v := c.Sweep(SweepInput{Held: []Held{{ID: 1, TTL: time.Second, Age: 5 * time.Second}, {ID: 2, TTL: time.Second, Age: 9 * time.Second}},
		MembersUp: 1, Members: 1, Budget: 1})
	if len(v.Expire) != 1 || v.Expire[0] != 2 {
		t.Fatalf("expire %v, want [2]", v.Expire)
	}
}

func TestConfirmed(t *testing.T) {
	ttl := 2 * time.Second
	old, fresh, unknown := Vote{Known: true, Age: 5 * time.Second}, Vote{Known: true, Age: time.Second}, Vote{}
	tests := []struct {
		votes []Vote
		want  bool
	}{
		{[]Vote{old, old}, true},
		{[]Vote{old, unknown}, true},
		{[]Vote{old}, false},             // no majority of 3 answered
		{[]Vote{old, old, fresh}, false}, // one replica saw a renewal
	}
	for _, tc := range tests {
		if got := Confirmed(ttl, 3, tc.votes); got != tc.want {
			t.Errorf("Confirmed(%v) = %v", tc.votes, got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mut := range []func(*Config){
		func(c *Config) { c.Grace = -1 },
		func(c *Config) { c.SweepEvery = 0 },
		func(c *Config) { c.MaxShare = 0 },
		func(c *Config) { c.MaxShare = 1.5 },
		func(c *Config) { c.MaxPerSecond = 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
