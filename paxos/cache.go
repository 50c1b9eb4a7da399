package paxos

import "container/list"

// CacheEntry is a proposer's fast path for one register: a quorum accepted
// State and promised Next in the same step (or promised Next with nothing
// accepted: a read of an absent register that ended at its prepare), at the configuration Config (the epoch and acceptor sets it was
// made under) and above Floor. The next change may skip the prepare and
// accept at Next directly.
type CacheEntry struct {
	Next   Ballot
	State  State
	Config string
	Floor  Ballot
}

// Cache holds fast-path entries, at most max, evicting the least recently
// used. Take removes the entry it returns, so a ballot is used for one
// accept only: a proposer puts an entry back only after a successful
// accept, and anything else (a conflict, a timeout, an error) leaves the
// key uncached.
type Cache struct {
	max int
	ll  *list.List
	m   map[string]*list.Element
}

type cacheItem struct {
	key string
	e   CacheEntry
}

// NewCache returns a cache of at most size entries (at least 1).
func NewCache(size int) *Cache {
	return &Cache{max: max(size, 1), ll: list.New(), m: map[string]*list.Element{}}
}

// Take removes and returns key's entry.
func (c *Cache) Take(key string) (CacheEntry, bool) {
	el, ok := c.m[key]
	if !ok {
		return CacheEntry{}, false
	}
	c.ll.Remove(el)
	delete(c.m, key)
	return el.Value.(*cacheItem).e, true
}

// Put stores key's entry.
func (c *Cache) Put(key string, e CacheEntry) {
	if el, ok := c.m[key]; ok {
		el.Value.(*cacheItem).e = e
		c.ll.MoveToFront(el)
		return
	}
	c.m[key] = c.ll.PushFront(&cacheItem{key: key, e: e})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*cacheItem).key)
	}
}

// Drop removes key's entry.
func (c *Cache) Drop(key string) { c.Take(key) }

// DropIf removes every entry drop selects (a configuration or floor
// changed).
func (c *Cache) DropIf(drop func(key string, e CacheEntry) bool) {
	for el := c.ll.Front(); el != nil; {
		next := el.Next()
		it := el.Value.(*cacheItem)
		if drop(it.key, it.e) {
			c.ll.Remove(el)
			delete(c.m, it.key)
		}
		el = next
	}
}

// Len returns the number of entries.
func (c *Cache) Len() int { return c.ll.Len() }
