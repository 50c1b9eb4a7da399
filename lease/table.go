package lease

import "time"

// Table is one replica's view of when each lease was last renewed, on the
// replica's own monotonic clock (now is a duration since a fixed instant
// the caller chose, e.g. process start). Not safe for concurrent use.
type Table struct {
	renewed map[ID]time.Duration
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{renewed: map[ID]time.Duration{}} }

// Renew notes a keep-alive of id received at now.
func (t *Table) Renew(id ID, now time.Duration) {
	if prev, ok := t.renewed[id]; !ok || now > prev {
		t.renewed[id] = now
	}
}

// Seen notes that the replica holds id's record at now: a lease it has no
// renewal of counts as renewed now (after a restart, or on a replica that
// just received the record), so it never expires early.
func (t *Table) Seen(id ID, now time.Duration) {
	if _, ok := t.renewed[id]; !ok {
		t.renewed[id] = now
	}
}

// Age is how long ago id was last renewed (ok false: never seen).
func (t *Table) Age(id ID, now time.Duration) (age time.Duration, ok bool) {
	at, ok := t.renewed[id]
	if !ok {
		return 0, false
	}
	return max(0, now-at), true
}

// Forget drops id (expired or revoked, or no longer this replica's).
func (t *Table) Forget(id ID) { delete(t.renewed, id) }

// Retain drops every lease keep does not report.
func (t *Table) Retain(keep func(ID) bool) {
	for id := range t.renewed {
		if !keep(id) {
			delete(t.renewed, id)
		}
	}
}

// Len is the number of leases in the table.
func (t *Table) Len() int { return len(t.renewed) }
