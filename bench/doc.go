// Package bench is quorumkv's load generator, the library behind
// `quorumkv bench` (cassandra-stress, memtier and YCSB are its models).
//
// A run drives one Driver (quorumkv, etcd or redis) with a YCSB-style
// workload: a mix of reads, updates, inserts and read-modify-writes over a key
// space chosen with a uniform, zipfian (YCSB's scrambled zipfian, theta 0.99),
// latest or sequential distribution. Clients run closed loop (each does one
// operation after another) or open loop at a fixed rate: then every operation
// has an intended start time i/R after the run's start, and its latency is
// measured from that time, so a stall is charged to every operation it
// delayed (no coordinated omission).
//
// Each client records into its own HDR histograms; a collector merges them
// once per interval into the progress series and the run's totals. Key and
// value streams are deterministic for a given seed and client.
package bench
