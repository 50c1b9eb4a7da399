package paxos_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

func entry(c uint64) paxos.CacheEntry {
	return paxos.CacheEntry{Next: bal(c, "n"), State: val(fmt.Sprint(c), c)}
}

func TestCacheTakeIsSingleUse(t *testing.T) {
	c := paxos.NewCache(4)
	c.Put("k", entry(5))
	e, ok := c.Take("k")
	if !ok || e.Next != bal(5, "n") {
		t.Fatalf("Take = %v, %v", e, ok)
	}
	if _, ok := c.Take("k"); ok {
		t.Fatal("a second Take returned the entry again: a ballot would be used twice")
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d after Take", c.Len())
	}
	c.Put("k", entry(6))
	c.Put("k", entry(7)) // replaces
	if e, _ := c.Take("k"); e.Next != bal(7, "n") || c.Len() != 0 {
		t.Fatalf("Put twice: took %v, %d left", e.Next, c.Len())
	}
	c.Put("k", entry(8))
	c.Drop("k")
	c.Drop("absent")
	if _, ok := c.Take("k"); ok {
		t.Fatal("Drop left the entry")
	}
}

func TestCacheLRU(t *testing.T) {
	c := paxos.NewCache(3)
	c.Put("a", entry(1))
	c.Put("b", entry(2))
	c.Put("c", entry(3))
	c.Put("a", entry(4)) // a is now the most recent
	c.Put("d", entry(5)) // evicts b, the least recent
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}
	keys := present(c, "a", "b", "c", "d")
	if !slices.Equal(keys, []string{"a", "c", "d"}) {
		t.Fatalf("kept %v, want a c d", keys)
	}
	// A cache of size 0 still holds one entry.
	one := paxos.NewCache(0)
	one.Put("x", entry(1))
	one.Put("y", entry(2))
	if got := present(one, "x", "y"); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("size-0 cache kept %v, want y", got)
	}
}

// present takes every key that is in c (emptying it) and returns them.
func present(c *paxos.Cache, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if _, ok := c.Take(k); ok {
			out = append(out, k)
		}
	}
	return out
}

func TestCacheDropIf(t *testing.T) {
	c := paxos.NewCache(10)
	for i, k := range []string{"a", "b", "c", "d"} {
		e := entry(uint64(i + 1))
		e.Config = "e1"
		if i%2 == 1 {
			e.Config = "e2"
		}
		c.Put(k, e)
	}
	c.DropIf(func(_ string, e paxos.CacheEntry) bool { return e.Config == "e1" })
	if got := present(c, "a", "b", "c", "d"); !slices.Equal(got, []string{"b", "d"}) {
		t.Fatalf("after dropping e1: %v, want b d", got)
	}
}
