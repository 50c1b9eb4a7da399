package httpadmin

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"
)

// RingStatus is what `quorumkv ring status` shows when asked of one node:
// the members that node sees, their own state (hints, anti-entropy,
// transfers) as each reports it, and the verdict line. /ring renders it,
// /ring.json is it as JSON; the field names are the CLI's (`ring status -o
// json`) where they mean the same.
type RingStatus struct {
	// Node is the answering node's id.
	Node       string `json:"node"`
	Replicas   int    `json:"replicas"`
	Partitions int    `json:"partitions"`
	// Epoch is the answering node's ring epoch.
	Epoch   uint64       `json:"epoch"`
	Members []RingMember `json:"members"`
	// Transfers are the partitions the members are pulling now (the
	// members that answered).
	Transfers []RingTransfer `json:"transfers"`
	// Verdict is the line `ring status` prints under its table.
	Verdict string `json:"verdict"`
	// Time is when the node gathered it (RFC 3339, set by the handler).
	Time string `json:"time"`
}

// RingMember is one member's row.
type RingMember struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Zone is the member's failure zone ("" when it has none).
	Zone string `json:"zone"`
	// Status is "up" or "down", as the answering node sees it.
	Status string `json:"status"`
	// State is the member's ring state: joining, valid, leaving, parked.
	State string `json:"state"`
	// Partitions is how many partitions the member replicates (is in the
	// preference list of); Owned how many it owns (is first in).
	Partitions int `json:"partitions"`
	Owned      int `json:"owned"`
	// HintsPending is how many hints the member holds (-1: unknown, it did
	// not answer).
	HintsPending int64 `json:"hints_pending"`
	// LastExchange is when the member last completed an anti-entropy
	// exchange (RFC 3339; empty: never or unknown).
	LastExchange string `json:"last_exchange"`
	// TransfersInFlight is how many partitions the member is pulling now
	// (-1: unknown).
	TransfersInFlight int `json:"transfers_in_flight"`
	// DiskFull: the member refuses writes to its own store.
	DiskFull bool `json:"disk_full,omitempty"`
	// Repairing is how many partitions the member is refilling after it
	// lost data.
	Repairing int `json:"repairing"`
	// LeaseExpiryFrozen: the member sees no majority up and expires no
	// lease; LeasesOverdue are the leases it holds past their ttl.
	LeaseExpiryFrozen bool   `json:"lease_expiry_frozen,omitempty"`
	LeasesOverdue     uint64 `json:"leases_overdue,omitempty"`
}

// RingTransfer is a partition a member is pulling.
type RingTransfer struct {
	Node      string   `json:"node"`
	Partition int      `json:"partition"`
	Sources   []string `json:"sources"`
	State     string   `json:"state"`
	KeysMoved uint64   `json:"keys_moved"`
	Error     string   `json:"error,omitempty"`
	Since     string   `json:"since"`
}

// RingSource yields a node's RingStatus: what `quorumkv ring status` would
// show if asked of it.
type RingSource interface {
	RingStatus(ctx context.Context) (RingStatus, error)
}

// ringTimeout bounds the gathering of one RingStatus (the node asks every
// member).
const ringTimeout = 5 * time.Second

// refreshInterval is how often the /ring page reloads its data.
const refreshInterval = 2 * time.Second

//go:embed ring.html
var ringHTML string

var ringPage = template.Must(template.New("ring").Funcs(template.FuncMap{
	"cells":   memberCells,
	"healthy": func(verdict string) bool { return strings.HasSuffix(verdict, " — healthy") },
}).Parse(ringHTML))

// renderRing writes the page of view.
func renderRing(w io.Writer, view ringView) error { return ringPage.Execute(w, view) }

// ringColumns are the headers of the members table; memberCells (and the
// page's script) fill them in this order.
var ringColumns = []string{"ID", "Zone", "Address", "Status", "State", "Owned", "Replicated", "Hints", "Last exchange", "Transfers"}

// memberCells is a member's row as text. The page's script formats the
// same way (ring.html); TestProcessRingPage checks they agree.
func memberCells(st RingStatus, m RingMember) []string {
	zone := m.Zone
	if zone == "" {
		zone = "-"
	}
	status := m.Status
	if m.DiskFull {
		status += ", disk full"
	}
	if m.Repairing > 0 {
		status += fmt.Sprintf(" (repairing %d)", m.Repairing)
	}
	if m.LeaseExpiryFrozen {
		status += fmt.Sprintf(", lease expiry frozen (%d overdue)", m.LeasesOverdue)
	}
	pct := 0.0
	if st.Partitions > 0 {
		pct = 100 * float64(m.Owned) / float64(st.Partitions)
	}
	hints := "?"
	if m.HintsPending >= 0 {
		hints = fmt.Sprint(m.HintsPending)
	}
	last := m.LastExchange
	if last == "" {
		last = "never"
	}
	transfers := "?"
	if m.TransfersInFlight >= 0 {
		transfers = fmt.Sprint(m.TransfersInFlight)
	}
	return []string{m.ID, zone, m.Address, status, m.State,
		fmt.Sprintf("%d (%.1f%%)", m.Owned, pct), fmt.Sprint(m.Partitions), hints, last, transfers}
}

// ringView is what the page's template renders.
type ringView struct {
	Status  RingStatus
	Columns []string
	Err     string
	// RefreshMs is the script's refresh interval, RefreshS the
	// <noscript> reload's.
	RefreshMs, RefreshS int
}

// gatherRing asks src for its RingStatus, bounded by ringTimeout, and
// stamps it.
func gatherRing(ctx context.Context, src RingSource) (RingStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, ringTimeout)
	defer cancel()
	st, err := src.RingStatus(ctx)
	if err != nil {
		return RingStatus{}, err
	}
	if st.Members == nil {
		st.Members = []RingMember{}
	}
	if st.Transfers == nil {
		st.Transfers = []RingTransfer{}
	}
	st.Time = time.Now().UTC().Format(time.RFC3339)
	return st, nil
}

// serveRingPage is /ring: the members table rendered on the server (so it
// is right without script), refreshed by its script from /ring.json.
func serveRingPage(src RingSource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := gatherRing(r.Context(), src)
		view := ringView{Status: st, Columns: ringColumns,
			RefreshMs: int(refreshInterval.Milliseconds()), RefreshS: int(refreshInterval.Seconds())}
		code := http.StatusOK
		if err != nil {
			view.Err = err.Error()
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = renderRing(w, view)
	}
}

// serveRingJSON is /ring.json: the same data as JSON; 503 with {"error":
// …} when the node cannot say.
func serveRingJSON(src RingSource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		st, err := gatherRing(r.Context(), src)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = enc.Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = enc.Encode(st)
	}
}
