package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/httpadmin"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// getRing reads a node's /ring.json.
func getRing(t *testing.T, n *node.Node) (httpadmin.RingStatus, error) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + n.HTTPAddr() + "/ring.json")
	if err != nil {
		return httpadmin.RingStatus{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpadmin.RingStatus{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return httpadmin.RingStatus{}, fmt.Errorf("/ring.json: %d %s", resp.StatusCode, body)
	}
	var st httpadmin.RingStatus
	return st, json.Unmarshal(body, &st)
}

// TestHTTPRingJSON: a node's /ring.json lists every member with its own
// state (asked of the member) and the verdict `ring status` prints; a
// member that stops shows down, its state unknown, and the verdict says
// the ring is degraded.
func TestHTTPRingJSON(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) { cfg.HTTP = "127.0.0.1:0" }})
	n1 := c.Nodes[0]
	st, err := getRing(t, n1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "n1" || st.Replicas != 3 || st.Partitions != 64 || st.Epoch == 0 || st.Time == "" {
		t.Fatalf("/ring.json header: %+v", st)
	}
	if st.Verdict != "3 up, 0 down, 0 joining, 0 leaving — healthy" {
		t.Fatalf("verdict %q", st.Verdict)
	}
	owned := 0
	for i, m := range st.Members {
		if m.ID != fmt.Sprintf("n%d", i+1) || m.Status != "up" || m.State != "valid" || m.HintsPending < 0 || m.TransfersInFlight != 0 ||
			m.Address != c.Nodes[i].Addr() || m.Partitions != 64 {
			t.Errorf("member %d: %+v", i, m)
		}
		owned += m.Owned
	}
	if len(st.Members) != 3 || owned != 64 {
		t.Fatalf("members %+v own %d partitions, want 3 owning 64", st.Members, owned)
	}
	c.Stop(2)
	nodetest.Eventually(t, 30*time.Second, func() error {
		st, err := getRing(t, n1)
		if err != nil {
			return err
		}
		n3 := st.Members[2]
		if n3.Status != "down" || n3.HintsPending != -1 || n3.TransfersInFlight != -1 || !strings.HasPrefix(st.Verdict, "2 up, 1 down, 0 joining, 0 leaving — degraded") {
			return fmt.Errorf("n3 %+v, verdict %q", n3, st.Verdict)
		}
		return nil
	})
}
