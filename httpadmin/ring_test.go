package httpadmin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// fixedRing is a Source with a fixed ring (or failure).
type fixedRing struct {
	st  RingStatus
	err error
}

func (f fixedRing) Ready() error { return nil }

func (f fixedRing) RingStatus(context.Context) (RingStatus, error) { return f.st, f.err }

func get(t *testing.T, src Source, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src, prometheus.NewRegistry()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func threeUp() RingStatus {
	return RingStatus{
		Node: "n1", Replicas: 3, Partitions: 1024, Epoch: 7,
		Members: []RingMember{
			{ID: "n1", Address: "127.0.0.1:7101", Zone: "a", Status: "up", State: "valid", Partitions: 1024, Owned: 342, HintsPending: 0, LastExchange: "2026-01-02T03:04:05Z", TransfersInFlight: 0},
			{ID: "n2", Address: "127.0.0.1:7102", Status: "up", State: "valid", Partitions: 1024, Owned: 341, HintsPending: 12, TransfersInFlight: 0},
			{ID: "n3", Address: "127.0.0.1:7103", Status: "down", State: "valid", Partitions: 1024, Owned: 341, HintsPending: -1, TransfersInFlight: -1},
		},
		Verdict: "2 up, 1 down, 0 joining, 0 leaving — degraded: QUORUM works, ALL fails for keys on down nodes",
	}
}

// tags strips the markup of an HTML fragment, leaving its text.
var tags = regexp.MustCompile(`<[^>]*>`)

// rowTexts are the member rows of a rendered /ring page, as "cell|cell|…"
// (the text between <tbody> and </tbody>, tags stripped).
func rowTexts(t *testing.T, page string) []string {
	t.Helper()
	_, body, ok := strings.Cut(page, "<tbody>")
	body, _, ok2 := strings.Cut(body, "</tbody>")
	if !ok || !ok2 {
		t.Fatalf("no <tbody> in:\n%s", page)
	}
	var rows []string
	for _, tr := range strings.Split(body, "</tr>") {
		if !strings.Contains(tr, "<td>") {
			continue
		}
		tr = strings.ReplaceAll(strings.TrimSpace(tr), "</td><td>", "|")
		rows = append(rows, tags.ReplaceAllString(tr, ""))
	}
	return rows
}

// TestRingPage: the server renders every member's row, the verdict and
// the refresh (script and <noscript> reload), with no external asset.
func TestRingPage(t *testing.T) {
	rec := get(t, fixedRing{st: threeUp()}, "/ring")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /ring: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	page := rec.Body.String()
	want := []string{
		"n1|a|127.0.0.1:7101|up|valid|342 (33.4%)|1024|0|2026-01-02T03:04:05Z|0",
		"n2|-|127.0.0.1:7102|up|valid|341 (33.3%)|1024|12|never|0",
		"n3|-|127.0.0.1:7103|down|valid|341 (33.3%)|1024|?|never|?",
	}
	if got := rowTexts(t, page); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range []string{
		`<p id="verdict" class="verdict">2 up, 1 down, 0 joining, 0 leaving — degraded: QUORUM works, ALL fails for keys on down nodes</p>`,
		`<tr class="down">`,
		`<noscript><meta http-equiv="refresh" content="2"></noscript>`,
		`fetch("ring.json"`,
		`var every =  2000 ;`,
		`as seen from <b id="node">n1</b> · epoch <span id="epoch">7</span>`,
		`<p class="err" id="err" hidden></p>`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	for _, s := range []string{"src=", "href=", "@import", "url("} {
		if strings.Contains(page, s) {
			t.Errorf("page refers to an external asset (%q)", s)
		}
	}
}

// TestRingPageEscapes: odd member ids, zones, addresses and verdicts are
// text on the page, never markup.
func TestRingPageEscapes(t *testing.T) {
	for _, tc := range []struct {
		name            string
		id, zone, addr  string
		wantRow, banned string
	}{
		{"script id", `<script>alert(1)</script>`, "z", "h:1", "&lt;script&gt;alert(1)&lt;/script&gt;|z|h:1", "<script>alert(1)"},
		{"ampersand and quotes in zone", "n1", `a&b "q" 'r'`, "h:1", "n1|a&amp;b &#34;q&#34; &#39;r&#39;|h:1", `a&b "q"`},
		{"markup in address", "n1", "", `<b>x</b>:1`, "n1|-|&lt;b&gt;x&lt;/b&gt;:1", "<b>x</b>"},
		{"unicode", "nœud-1", "zone ü", "[::1]:7101", "nœud-1|zone ü|[::1]:7101", "\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := RingStatus{Node: tc.id, Replicas: 1, Partitions: 8, Members: []RingMember{
				{ID: tc.id, Zone: tc.zone, Address: tc.addr, Status: "up", State: "valid", Partitions: 8, Owned: 8, HintsPending: 0},
			}, Verdict: "1 up <i>x</i> — healthy"}
			page := get(t, fixedRing{st: st}, "/ring").Body.String()
			rows := rowTexts(t, page)
			if len(rows) != 1 || !strings.HasPrefix(rows[0], tc.wantRow+"|") {
				t.Fatalf("rows %q, want one starting %q", rows, tc.wantRow)
			}
			if strings.Contains(page, tc.banned) {
				t.Errorf("page holds %q unescaped", tc.banned)
			}
			if !strings.Contains(page, `class="verdict healthy">1 up &lt;i&gt;x&lt;/i&gt; — healthy</p>`) {
				t.Errorf("verdict not escaped or not marked healthy:\n%s", page)
			}
		})
	}
}

// TestRingPageError: a node that cannot say renders the page with the
// reason and 503, and /ring.json says it as {"error": …}.
func TestRingPageError(t *testing.T) {
	src := fixedRing{err: errors.New("starting: <stores> not open")}
	rec := get(t, src, "/ring")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `<p class="err" id="err">starting: &lt;stores&gt; not open</p>`) {
		t.Fatalf("GET /ring of a failing source: %d\n%s", rec.Code, rec.Body.String())
	}
	rec = get(t, src, "/ring.json")
	var body map[string]string
	if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] != "starting: <stores> not open" {
		t.Fatalf("GET /ring.json of a failing source: %d %s", rec.Code, rec.Body.String())
	}
}

// TestRingJSON: /ring.json is the RingStatus with the CLI's field names,
// stamped with the time; empty lists are [] rather than null.
func TestRingJSON(t *testing.T) {
	rec := get(t, fixedRing{st: threeUp()}, "/ring.json")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /ring.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"node", "replicas", "partitions", "epoch", "members", "transfers", "verdict", "time"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("/ring.json lacks %q: %s", k, rec.Body.String())
		}
	}
	if ts, ok := raw["transfers"].([]any); !ok || len(ts) != 0 {
		t.Errorf("transfers = %v, want []", raw["transfers"])
	}
	m0 := raw["members"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "address", "zone", "status", "state", "partitions", "owned", "hints_pending", "last_exchange", "transfers_in_flight", "repairing"} {
		if _, ok := m0[k]; !ok {
			t.Errorf("member lacks %q: %v", k, m0)
		}
	}
	var st RingStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 || st.Members[2].HintsPending != -1 || st.Verdict != threeUp().Verdict || st.Time == "" {
		t.Fatalf("/ring.json = %+v", st)
	}
}

// TestMemberCells: the text of a row's cells, the notes of its status
// and the unknowns.
func TestMemberCells(t *testing.T) {
	st := RingStatus{Partitions: 1024}
	for _, tc := range []struct {
		m    RingMember
		want string
	}{
		{RingMember{ID: "n1", Status: "up", State: "valid", Owned: 64, Partitions: 192}, "n1|-||up|valid|64 (6.2%)|192|0|never|0"},
		{RingMember{ID: "n1", Zone: "z", Status: "up", State: "leaving", DiskFull: true, Repairing: 3, LeaseExpiryFrozen: true, LeasesOverdue: 2, HintsPending: -1, TransfersInFlight: 4},
			"n1|z||up, disk full (repairing 3), lease expiry frozen (2 overdue)|leaving|0 (0.0%)|0|?|never|4"},
	} {
		if got := strings.Join(memberCells(st, tc.m), "|"); got != tc.want {
			t.Errorf("memberCells(%+v) = %q, want %q", tc.m, got, tc.want)
		}
	}
	if got := memberCells(RingStatus{}, RingMember{Owned: 3})[5]; got != "3 (0.0%)" {
		t.Errorf("owned without partitions = %q", got)
	}
	if len(memberCells(st, RingMember{})) != len(ringColumns) {
		t.Error("cells and columns differ in number")
	}
}
