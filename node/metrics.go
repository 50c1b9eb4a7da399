package node

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/ring"
)

// nodeMetrics are the node's Prometheus metrics, on a registry of its own
// (served by package httpadmin).
type nodeMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newNodeMetrics(n *Node) *nodeMetrics {
	m := &nodeMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quorumkv_requests_total",
			Help: "Client key-value requests this node coordinated, by operation, consistency level and outcome (ok, not_found, or the gRPC code).",
		}, []string{"op", "level", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quorumkv_request_duration_seconds",
			Help:    "Time to answer a client key-value request, by operation and consistency level.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17), // 100 µs to 6.5 s
		}, []string{"op", "level"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, &stateCollector{n: n})
	return m
}

// observe counts one request of op at level that started at start.
func (m *nodeMetrics) observe(op string, cons *api.Consistency, start time.Time, outcome string) {
	level := "invalid"
	if c, err := peer.ConsistencyFromProto(cons); err == nil {
		level = c.String()
	}
	m.requests.WithLabelValues(op, level, outcome).Inc()
	m.latency.WithLabelValues(op, level).Observe(time.Since(start).Seconds())
}

// outcomeOf names a request's outcome: ok, or its gRPC code in snake case.
func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	return codeName(status.Code(err))
}

func codeName(c codes.Code) string {
	s := c.String()
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// stateCollector reads the node's ring and lease state at each scrape.
type stateCollector struct{ n *Node }

var (
	descEpoch   = prometheus.NewDesc("quorumkv_ring_epoch", "The epoch of the ring this node serves.", nil, nil)
	descMembers = prometheus.NewDesc("quorumkv_ring_members", "Members of the cluster by state (joining, valid, leaving, …) as this node knows them.",
		[]string{"state"}, nil)
	descUp            = prometheus.NewDesc("quorumkv_ring_members_up", "Ring members this node sees up (itself included).", nil, nil)
	descLeasesHeld    = prometheus.NewDesc("quorumkv_leases_held", "Leases whose record this node replicates.", nil, nil)
	descLeaseRenewals = prometheus.NewDesc("quorumkv_lease_renewals_total", "Lease renewals this replica noted.", nil, nil)
	descLeasesExpired = prometheus.NewDesc("quorumkv_leases_expired_total", "Leases this node expired.", nil, nil)
	descLeasesRevoked = prometheus.NewDesc("quorumkv_leases_revoked_total", "Leases revoked through this node.", nil, nil)
	descLeaseFrozen   = prometheus.NewDesc("quorumkv_lease_expiry_frozen", "1 while this node sees no majority up and expires no lease (self-preservation).", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEpoch, descMembers, descUp, descLeasesHeld, descLeaseRenewals, descLeasesExpired, descLeasesRevoked, descLeaseFrozen} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	if v := n.members.View(); v != nil {
		ch <- prometheus.MustNewConstMetric(descEpoch, prometheus.GaugeValue, float64(v.Epoch))
	}
	byState := map[ring.State]int{}
	for _, m := range n.members.Doc().Members {
		byState[m.State]++
	}
	for st, count := range byState {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(count), st.String())
	}
	up, _ := n.membersUp()
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, float64(up))
	ls := n.leases.statsNow()
	frozen := 0.0
	if ls.frozen {
		frozen = 1
	}
	ch <- prometheus.MustNewConstMetric(descLeasesHeld, prometheus.GaugeValue, float64(ls.held))
	ch <- prometheus.MustNewConstMetric(descLeaseRenewals, prometheus.CounterValue, float64(ls.renewals))
	ch <- prometheus.MustNewConstMetric(descLeasesExpired, prometheus.CounterValue, float64(ls.expired))
	ch <- prometheus.MustNewConstMetric(descLeasesRevoked, prometheus.CounterValue, float64(ls.revoked))
	ch <- prometheus.MustNewConstMetric(descLeaseFrozen, prometheus.GaugeValue, frozen)
}
