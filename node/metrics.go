package node

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
)

// nodeMetrics are the node's Prometheus metrics, on a registry of its own
// (served by package httpadmin).
type nodeMetrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	quorumFailures *prometheus.CounterVec
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
	m.quorumFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "quorumkv_quorum_failures_total",
		Help: "Client requests this node coordinated that failed their quorum, by operation (read, write), replicas required and replicas that acknowledged.",
	}, []string{"op", "required", "acknowledged"})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.quorumFailures, &stateCollector{n: n})
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

// noteFailure counts err when it is a failed quorum.
func (m *nodeMetrics) noteFailure(err error) {
	var ue *coordinator.UnavailableError
	if errors.As(err, &ue) {
		m.quorumFailures.WithLabelValues(ue.Op, strconv.Itoa(ue.Required), strconv.Itoa(ue.Acknowledged)).Inc()
	}
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
	descUp             = prometheus.NewDesc("quorumkv_ring_members_up", "Ring members this node sees up (itself included).", nil, nil)
	descLeasesHeld     = prometheus.NewDesc("quorumkv_leases_held", "Leases whose record this node replicates.", nil, nil)
	descLeaseRenewals  = prometheus.NewDesc("quorumkv_lease_renewals_total", "Lease renewals this replica noted.", nil, nil)
	descLeasesExpired  = prometheus.NewDesc("quorumkv_leases_expired_total", "Leases this node expired.", nil, nil)
	descLeasesRevoked  = prometheus.NewDesc("quorumkv_leases_revoked_total", "Leases revoked through this node.", nil, nil)
	descLeaseFrozen    = prometheus.NewDesc("quorumkv_lease_expiry_frozen", "1 while this node sees no majority up and expires no lease (self-preservation).", nil, nil)
	descHintsPending   = prometheus.NewDesc("quorumkv_hints_pending", "Hints this node holds for a replica that missed writes, by target.", []string{"target"}, nil)
	descHintsDropped   = prometheus.NewDesc("quorumkv_hints_dropped_total", "Hints not stored because the target's cap was reached, by target.", []string{"target"}, nil)
	descHintsExpired   = prometheus.NewDesc("quorumkv_hints_expired_total", "Hints dropped past the hint window, by target.", []string{"target"}, nil)
	descExchanges      = prometheus.NewDesc("quorumkv_antientropy_exchanges_total", "Anti-entropy exchanges of a partition with a peer.", nil, nil)
	descRepaired       = prometheus.NewDesc("quorumkv_antientropy_keys_repaired_total", "Keys anti-entropy copied between replicas.", nil, nil)
	descAEErrors       = prometheus.NewDesc("quorumkv_antientropy_errors_total", "Anti-entropy exchanges that failed.", nil, nil)
	descReaped         = prometheus.NewDesc("quorumkv_tombstones_reaped_total", "Tombstones removed once every replica held them past the grace.", nil, nil)
	descLastExchange   = prometheus.NewDesc("quorumkv_antientropy_last_exchange_timestamp_seconds", "When this node last finished an anti-entropy exchange (Unix time).", nil, nil)
	descRepairing      = prometheus.NewDesc("quorumkv_partitions_repairing", "Partitions this node is refilling after losing its data.", nil, nil)
	descTransfers      = prometheus.NewDesc("quorumkv_transfers_in_flight", "Partition transfers of a ring change in progress on this node.", nil, nil)
	descDiskFull       = prometheus.NewDesc("quorumkv_disk_full", "1 while this node refuses writes to its own store for want of disk space.", nil, nil)
	descHintsDelivered = prometheus.NewDesc("quorumkv_hints_delivered_total", "Hints acknowledged (by the target, or by the key's owners when rerouted) and deleted, by target.", []string{"target"}, nil)
	descReadRepairs    = prometheus.NewDesc("quorumkv_read_repairs_total", "Replica copies a read repair brought up to date.", nil, nil)
	descRepairFailures = prometheus.NewDesc("quorumkv_read_repair_failures_total", "Read repairs of a replica copy that failed.", nil, nil)
	descCompactions    = prometheus.NewDesc("quorumkv_storage_compactions_total", "Storage engine (Pebble) compactions.", nil, nil)
	descFlushes        = prometheus.NewDesc("quorumkv_storage_flushes_total", "Storage engine memtable flushes.", nil, nil)
	descL0Files        = prometheus.NewDesc("quorumkv_storage_l0_files", "Tables in the storage engine's level 0 (growing: compactions fall behind).", nil, nil)
	descL0Sublevels    = prometheus.NewDesc("quorumkv_storage_l0_sublevels", "Sublevels of the storage engine's level 0 (writes stall past its threshold).", nil, nil)
	descWriteStalls    = prometheus.NewDesc("quorumkv_storage_write_stalls_total", "Write stalls the storage engine began.", nil, nil)
	descCacheHits      = prometheus.NewDesc("quorumkv_storage_block_cache_hits_total", "Block cache lookups that hit.", nil, nil)
	descCacheMisses    = prometheus.NewDesc("quorumkv_storage_block_cache_misses_total", "Block cache lookups that missed.", nil, nil)
	descFsync          = prometheus.NewDesc("quorumkv_storage_wal_fsync_duration_seconds", "Latency of the write-ahead log's fsyncs.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEpoch, descMembers, descUp, descLeasesHeld, descLeaseRenewals, descLeasesExpired, descLeasesRevoked, descLeaseFrozen,
		descHintsPending, descHintsDropped, descHintsExpired, descExchanges, descRepaired, descAEErrors, descReaped, descLastExchange,
		descRepairing, descTransfers, descDiskFull, descHintsDelivered, descReadRepairs, descRepairFailures,
		descCompactions, descFlushes, descL0Files, descL0Sublevels, descWriteStalls, descCacheHits, descCacheMisses, descFsync} {
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
	if n.hints != nil {
		for _, h := range n.hints.Stats() {
			ch <- prometheus.MustNewConstMetric(descHintsPending, prometheus.GaugeValue, float64(h.Pending), h.Target)
			ch <- prometheus.MustNewConstMetric(descHintsDropped, prometheus.CounterValue, float64(h.Dropped), h.Target)
			ch <- prometheus.MustNewConstMetric(descHintsExpired, prometheus.CounterValue, float64(h.Expired), h.Target)
		}
		for target, count := range n.hints.Delivered() {
			ch <- prometheus.MustNewConstMetric(descHintsDelivered, prometheus.CounterValue, float64(count), target)
		}
	}
	if n.ae != nil {
		st := n.ae.Stats()
		ch <- prometheus.MustNewConstMetric(descExchanges, prometheus.CounterValue, float64(st.Exchanges))
		ch <- prometheus.MustNewConstMetric(descRepaired, prometheus.CounterValue, float64(st.KeysRepaired))
		ch <- prometheus.MustNewConstMetric(descAEErrors, prometheus.CounterValue, float64(st.Errors))
		ch <- prometheus.MustNewConstMetric(descReaped, prometheus.CounterValue, float64(st.TombstonesReaped))
		if !st.LastExchange.IsZero() {
			ch <- prometheus.MustNewConstMetric(descLastExchange, prometheus.GaugeValue, float64(st.LastExchange.UnixNano())/1e9)
		}
	}
	if n.own != nil {
		ch <- prometheus.MustNewConstMetric(descRepairing, prometheus.GaugeValue, float64(n.RepairingPartitions()))
		ch <- prometheus.MustNewConstMetric(descTransfers, prometheus.GaugeValue, float64(len(n.Transfers())))
	}
	full := 0.0
	if n.store.DiskFull() != nil {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(descDiskFull, prometheus.GaugeValue, full)
	if n.coord != nil {
		ok, failed := n.coord.ReadRepairs()
		ch <- prometheus.MustNewConstMetric(descReadRepairs, prometheus.CounterValue, float64(ok))
		ch <- prometheus.MustNewConstMetric(descRepairFailures, prometheus.CounterValue, float64(failed))
	}
	collectStorage(ch, n.store.StorageStats())
}

// collectStorage sends the storage engine's figures.
func collectStorage(ch chan<- prometheus.Metric, st replica.StorageStats) {
	ch <- prometheus.MustNewConstMetric(descCompactions, prometheus.CounterValue, float64(st.Compactions))
	ch <- prometheus.MustNewConstMetric(descFlushes, prometheus.CounterValue, float64(st.Flushes))
	ch <- prometheus.MustNewConstMetric(descL0Files, prometheus.GaugeValue, float64(st.L0Files))
	ch <- prometheus.MustNewConstMetric(descL0Sublevels, prometheus.GaugeValue, float64(st.L0Sublevels))
	ch <- prometheus.MustNewConstMetric(descWriteStalls, prometheus.CounterValue, float64(st.WriteStalls))
	ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(st.CacheHits))
	ch <- prometheus.MustNewConstMetric(descCacheMisses, prometheus.CounterValue, float64(st.CacheMisses))
	ch <- prometheus.MustNewConstHistogram(descFsync, st.Fsync.Count, st.Fsync.Sum, st.Fsync.Buckets)
}
