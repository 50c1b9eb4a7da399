// Package nemesis is quorumkv's fault harness on real hosts (docs/design.md,
// Testing, tier 4): `quorumkv server` processes, each in its own network
// namespace on a private bridge, driven by concurrent workloads while a seeded
// nemesis isolates, partitions, kills, pauses and skews them and, in the 5-node
// mode, changes the ring. After a final heal it waits for hints and
// anti-entropy, reads every key at ALL, stops the servers, reads every member's
// own Pebble copy and compares their Merkle roots, and reports a JSON summary.
// Copies that differ only in how far the reaping of a deleted key's
// tombstones has gone (no copy holds a live value; each reaper runs on its
// own schedule, and the servers stop at any moment) are reported as
// reaping_keys, not as divergence.
//
// The workloads use disjoint keys:
//
//   - unique (u-*): each key written once; an acknowledged key must read back
//     with its value.
//   - set (s-*): get → union of the siblings' elements → put with the context;
//     no acknowledged element may be lost and no element never added may
//     appear.
//   - delete (d-*): delete chains: put v1, delete with the put's context,
//     put v2 with the delete's context, delete, put v3, ... (3 to 9 steps),
//     with pauses between steps of none, up to 4 s, or past the tombstone
//     grace (so keys are re-created after their tombstone was reaped). A
//     value an acknowledged delete covers never comes back (resurrected),
//     the last acknowledged put is never masked unless a later delete was
//     attempted, and no value never written appears; a put's or delete's
//     own result is checked the same way during the run.
//
// A request that failed may or may not have happened: only acknowledged
// writes are required, and failed ones are allowed either way.
//
// # The register workload: linearizability checked with porcupine
//
// With Config.Registers (--register; the make targets turn it on) the
// linearizable registers (quorumkv.v1.Serial) run beside the workloads
// above, on keys of their own:
//
//   - r-0 .. r-4 (Config.RegisterKeys): SerialGet, CompareAndSet with
//     ExpectVersion (the version the worker last saw, now and then one off)
//     and, for a tenth of the writes, CompareAndSet with no condition;
//     values 0-4;
//   - r-counter: SerialGet and Increment by 1 or 2.
//
// Every key has RegisterWorkers workers per coordinator pinned to that node
// and RoutedWorkers on the ring-aware client, and gets at most RegisterOps
// operations (2000; porcupine's cost grows with them), spread over the
// run. Each operation's call and return are read from one monotonic clock
// in the harness process. An answer (a failed condition included: it
// reads the current version and value) is recorded as it is; a definite
// failure (UnavailableError, refused as malformed, not implemented, never
// sent, or sent by a pinned worker to a node that had no process from
// before the call to after the return) changed nothing and is left out of
// the history; anything else
// (ErrOutcomeUnknown, a time-out, a lost connection) is an unknown
// outcome: the operation returns at +∞ (it may take effect at any point
// after its call, or never) and its worker goes on as a new porcupine
// client. After the final heal every key is read once more.
//
// The model (register_model.go) is a versioned register per key (the
// history is partitioned by key): a get returns found, value and version;
// a cas applies iff the version is the expected one; a put always
// applies; every applied change increments the version; an increment
// adds to the value read as a decimal integer. Two encodings keep the
// checker's search small without changing its verdict: a cas with an
// unknown outcome returns when an answer first showed its expected
// version passed (it can no longer apply after that), and an increment by
// 1 or 2 with an unknown outcome becomes a latent increment from its call
// on, which a later answer takes up when it shows the counter further on
// (the +∞ form makes porcupine try every subset of the unknown increments
// in every order). porcupine checks every key within Config.CheckTimeout
// (60 s); a key that is not linearizable, or a checker time-out, fails the
// run like a lost write, and porcupine's visualization of the key
// (register-KEY.html) and the history (registers.jsonl: every operation,
// the definite failures too, with its op id KEY/WHERE/WORKER/SEQ, its error
// text and the proposer's receipt) are kept in the data dir. The summary's registers part has the operations per kind and
// outcome, the unknown outcomes and their share of all register
// operations, and the verdict per key; Config.MaxUnknown (--max-unknown
// 0.02; the make targets apply it to runs given a DURATION) fails a run
// with a larger share.
//
// # One nemesis kind at a time
//
// Config.Faults (--faults, make's FAULTS) names the kinds drawn;
// "membership" stands for the four ring changes. The 5-minute run per
// nemesis kind, 5 nodes and N=3, with the register workload:
//
//	make nemesis NODES=5 DURATION=5m SEED=n FAULTS=partition
//	make nemesis NODES=5 DURATION=5m SEED=n FAULTS=kill
//	make nemesis NODES=5 DURATION=5m SEED=n FAULTS=pause
//	make nemesis NODES=5 DURATION=5m SEED=n FAULTS=slow
//	make nemesis NODES=5 DURATION=5m SEED=n FAULTS=skew
//	make nemesis NODES=5 DURATION=5m SEED=n FAULTS=membership
//
// (isolate, oneway and hintkill likewise); `make nemesis NODES=5
// DURATION=5m SEED=n` draws every kind, ring changes included, and with
// CONCURRENT=1 (Config.ConcurrentMembership, --concurrent-membership) the
// ring changes run concurrent with the other faults instead of in turn
// with them: one change at a time, each an Interval after the last
// settled, while the other faults go on. A fault never picks the node a
// change acts on, nor a change a node under a fault (both choose and claim
// their nodes under one lock). Operations that run while both are in force
// see the kind "fault+change", and neither counts as a single-node fault
// from then on (FaultRecord.Concurrent). `make nemesis-kinds SEED=n` runs
// every kind alone, then all of them with CONCURRENT=1.
//
// # Frozen and slow nodes: judged on what users see
//
// The pause fault SIGSTOPs one node for the fault's hold. The slow fault
// makes one node slow rather than dead: the harness stops it for 200-300 ms,
// lets it run for 50-100 ms, and again, until the fault is healed (then
// SIGCONT). That is what a node thrashing in garbage collection or on a
// starved VM looks like to its peers: it holds its connections and answers
// gossip now and then, but everything sent to it waits hundreds of
// milliseconds. tc netem, the usual way to delay one host's packets, is not
// available in the kernels this runs on; a duty cycle of signals needs
// nothing but the process, and also delays the node's own work (its
// coordination, hint replay, anti-entropy), which packet delay would not.
//
// Workers pinned to one node cannot see what such a node costs users: the
// pinned workers of the other nodes measure only that the healthy nodes
// keep serving. So the pause and slow faults (UserFaults) are judged on
// every request of the ring-aware client (the routed workers) that started
// while the fault was in force, including those still running when it
// healed: at least 99 % succeed and their p99 latency is at most 1 s
// (Availability.Users, checked unless --judge-users=false). Each stall (a
// failure, or a request slower than 1 s) is put down to where it waited:
// the faulted node coordinated it (the client sent it there) or a healthy
// node did (that coordinator waited on the faulted replica).
//
// # The 5-node membership mode
//
// With Config.Nodes = 5 and the membership faults (--nodes 5 --membership)
// the harness runs 6 process slots, 5 of them ring members at the start
// and one spare. Besides the faults above the nemesis draws ring changes:
//
//   - join: a spare slot starts and joins (a slot that served before gets an
//     empty data dir first);
//   - leave: `ring leave` of a member; once it is removed it is stopped and
//     its slot becomes a spare that keeps its data dir;
//   - remove: SIGKILL a member, `ring remove` it, wait until it is removed,
//     wipe its data dir and restart it: it rejoins;
//   - rejoin: a node that left is restarted on its old data dir (it must
//     join as a fresh joiner).
//
// The member count stays within [4, 6]; a kind that cannot run becomes
// the nearest one that can. Each change lasts until the ring has settled
// (every member running, up and valid, one epoch, no transfers; bounded by
// Config.SettleTimeout) and its record says when it began, when the epoch
// changed (a watcher polls every node's epoch every 250 ms) and when it
// settled. Faults pick among the members; workers pinned to a slot that
// is not a member wait, sending nothing, until it is one again. After each
// change settles, the checker reads at ONE, through every member that
// gained partitions in the change (every partition of a joiner), a sample
// of the unique keys acknowledged before the change began: a "not found"
// is reported (one_reads_not_found, with examples) and fails the run.
// The final checks use the placement of the final members; spare slots
// are not read. A change that does not settle fails the run.
//
// Availability (RequireAvailability: at least 99 % of majority-side
// requests succeed during single-node faults; partitions, kills and the
// rest are judged that way, pause and slow faults on users' requests as
// above) counts a membership change
// as a single-node fault of the node joining, leaving or removed, and
// leaves out every request that overlaps an epoch change ±
// Config.CommitBefore/CommitAfter (1 s/2 s; the summary's
// availability.commit_exclusion says what was left out).
//
// # The short-grace profile
//
// Config.ShortGrace (--short-grace) runs the servers with
// --tombstone-grace 20s, --hint-window 8s (a hint's max age is half the
// grace) and --anti-entropy-interval 3s, so tombstones are reaped many
// times during a run (tombstones_reaped in the summary); its skew faults
// use ±1 s and ±3 s, well below the 10 s margin between the grace and the
// hints' max age (larger jumps are documented as unsafe).
//
// Run it with `make nemesis` (short 3-node CI run), `make nemesis DURATION=5m
// SEED=n`, `make nemesis NODES=5` (the 90 s membership CI run) or `make
// nemesis NODES=5 DURATION=5m SEED=n` (the long membership run); `make
// nemesis-bite` shows the checker catches a broken store (writes
// acknowledged but not stored; a reaper that skips the all-replicas check).
// The harness needs root, iproute2 and iptables.
//
// The servers it runs are built with the faultinject build tag (FaultTag):
// the skew fault restarts a server with --clock-offset and the bite test
// breaks one with --test-bug, flags the product binary does not have. The
// broken reaper is a build tag of its own (qkvbug_reapall): its all-replicas
// check is a decision inside the anti-entropy scheduler, not a component a
// wrapper could replace.
package nemesis
