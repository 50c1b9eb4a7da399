#!/usr/bin/env bash
# compare.sh — quorumkv against etcd and redis on this machine, same client,
# same workloads, interleaved.
#
# Starts, all on 127.0.0.1 with free ports and temporary data directories:
#   - a 3-node quorumkv cluster (`quorumkv server`, fsync on, N=3),
#   - a 3-member etcd cluster (Debian's etcd-server),
#   - a redis primary with 2 replicas (Debian's redis-server; no persistence:
#     durability comes from replication, checked with WAIT).
# Then, for each round, for 32 and 128 clients, runs `quorumkv bench` for:
#   puts:  quorumkv W=2 | etcd put | redis SET + WAIT 1
#   gets:  quorumkv R=2 | quorumkv R=1 | etcd linearizable | etcd serializable
# Puts go to fresh keys (a new key prefix per run, uniform over 1M keys): a
# key's first quorumkv put creates it (--fresh-keys: no read first, no
# context), a later put of the same key carries the context the run saw, so
# none makes siblings; gets read
# keys loaded first (uniform over --records).
# Then, in the same rounds, the register and lock workloads against etcd:
#   cas (--cas-clients, default 32 and 128): quorumkv CompareAndSet by
#     version | etcd Txn If(mod_revision == known) Then(Put) Else(Get)
#   hot-incr (--hot-clients, default 32): quorumkv Increment of one key |
#     etcd Get + Txn on mod_revision, retried until it applies
#   lock (--lock-clients, default 32): quorumkv Acquire + Release | etcd
#     concurrency Mutex Lock + Unlock, distinct names per client
#   keepalive (--keepalive-clients, default 32): renewals of 10000 leases
#     (granted before each run's clock starts, revoked after; the server
#     CPU per op includes the grants) | etcd LeaseKeepAlive on pooled streams
#   keep-alive schedule (with the register runs; --ttl3-leases, default
#     10000): that many leases of 10s, each renewed every ttl/3 (open loop
#     at leases/3.33s a second, leases in turn), and the servers' CPU per
#     keep-alive once the grants are done
# each on a key prefix of its own, for --serial-duration after
# --serial-warmup; their ratios compare the workload's own operation (cas,
# incr, lock), and the table adds conflicts, retries, quorumkv's fast-path
# share and rounds per operation, and the longest wait of any client between
# completed operations (the starvation check: at most 2s).
# Medians over the rounds are printed with their ratios (quorumkv ops/s ÷
# the other's ops/s: > 1 means quorumkv is faster), and the servers' CPU
# time per operation (steadier than throughput on a shared machine); the
# last line is the ratios as one JSON object.
# Every run's JSON report and plot go to the results directory.
#
# Usage: bench/compare.sh [--quick] [--rounds N] [--duration D] [--warmup D]
#                         [--records N] [--clients "32 128"] [--out DIR]
#                         [--serial-duration D] [--serial-warmup D]
#                         [--cas-clients "32 128"] [--hot-clients "32"]
#                         [--lock-clients "32"] [--keepalive-clients "32"] [--ttl3-leases N]
#                         [--no-serial] [--serial-only]
#   --quick: 3 rounds of 1s runs on 5000 keys, 2s register and lock runs
#     (under 4 minutes).
#   --no-serial: only the put and get runs; --serial-only: only the
#     register and lock runs.
# Needs root (or the packages already installed) for apt-get.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=3
duration=8s
warmup=2s
interval=1s
records=100000
clients_list="32 128"
serial_duration=5s
serial_warmup=1s
cas_clients="32 128"
hot_clients="32"
lock_clients="32"
keepalive_clients="32"
ttl3_leases=10000
watchers=100
watch_rate=100
kv_runs=1
serial_runs=1
out=""
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; duration=1s; warmup=300ms; interval=250ms; records=5000; serial_duration=2s; serial_warmup=300ms ;;
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --records) records=$2; shift ;;
    --clients) clients_list=$2; shift ;;
    --serial-duration) serial_duration=$2; shift ;;
    --serial-warmup) serial_warmup=$2; shift ;;
    --cas-clients) cas_clients=$2; shift ;;
    --hot-clients) hot_clients=$2; shift ;;
    --lock-clients) lock_clients=$2; shift ;;
    --keepalive-clients) keepalive_clients=$2; shift ;;
    --ttl3-leases) ttl3_leases=$2; shift ;;
    --watchers) watchers=$2; shift ;;
    --no-serial) serial_runs=0 ;;
    --serial-only) kv_runs=0 ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$rounds" -lt 1 ]; then echo "compare.sh: --rounds must be at least 1" >&2; exit 2; fi
if [ "$kv_runs" = 0 ] && [ "$serial_runs" = 0 ]; then echo "compare.sh: --no-serial and --serial-only leave nothing to run" >&2; exit 2; fi

log() { echo "compare: $*" >&2; }

# --- packages ---------------------------------------------------------------
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- scratch space, results, cleanup ------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/quorumkv-compare.XXXXXX")
if [ -z "$out" ]; then out="$work/results"; fi
mkdir -p "$out/logs" "$out/runs"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Keep the results (they may live under $work); drop the data.
  rm -rf "$work/data" "$work/bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

used_ports=" "
# Ports come from below the kernel's ephemeral range, so an outgoing
# connection cannot take one between the check and the server's bind.
ephemeral_low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
port_high=$((ephemeral_low > 21000 ? ephemeral_low - 1 : 32767))
free_port() {
  local p
  for _ in $(seq 200); do
    p=$(shuf -i "20000-$port_high" -n 1)
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports="$used_ports$p "
      echo "$p"
      return
    fi
  done
  echo "compare.sh: no free port found" >&2
  exit 1
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2
  shift 2
  for _ in $(seq $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "timed out waiting for $what (logs in $out/logs)"
  exit 1
}

# --- build ------------------------------------------------------------------------
mkdir -p "$work/bin" "$work/data"
log "building quorumkv"
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/bin/quorumkv" ./cmd/quorumkv)
qkv="$work/bin/quorumkv"

# --- quorumkv: 3 nodes --------------------------------------------------------------
qkv_eps=()
qkv_pids=()
seed_gossip=""
for i in 1 2 3; do
  port=$(free_port)
  gport=$(free_port)
  args=(server --id "n$i" --data "$work/data/qkv-n$i" --listen "127.0.0.1:$port" --gossip "127.0.0.1:$gport" --fsync=true --log-level warn)
  if [ -n "$seed_gossip" ]; then args+=(--join "$seed_gossip"); else seed_gossip="127.0.0.1:$gport"; fi
  "$qkv" "${args[@]}" >"$out/logs/qkv-n$i.log" 2>&1 &
  pids+=($!)
  qkv_pids+=($!)
  qkv_eps+=("127.0.0.1:$port")
  [ "$i" = 1 ] && wait_for 20 "quorumkv n1" "$qkv" ring status --endpoints "127.0.0.1:$port" --timeout 1s
done
qkv_endpoints=$(IFS=,; echo "${qkv_eps[*]}")
qkv_ring_up() {
  local e
  for e in "${qkv_eps[@]}"; do
    [ "$("$qkv" ring status --endpoints "$e" --timeout 1s -o json | python3 -c 'import json,sys; print(sum(m["status"]=="up" for m in json.load(sys.stdin)["members"]))')" = 3 ] || return 1
  done
}
wait_for 30 "the quorumkv ring (3 up)" qkv_ring_up
log "quorumkv: 3 nodes at $qkv_endpoints"

# --- etcd: 3 members ----------------------------------------------------------------
etcd_cluster=""
etcd_eps=()
etcd_pids=()
declare -a etcd_client etcd_peer
for i in 1 2 3; do
  etcd_client[$i]=$(free_port)
  etcd_peer[$i]=$(free_port)
  etcd_cluster="${etcd_cluster:+$etcd_cluster,}e$i=http://127.0.0.1:${etcd_peer[$i]}"
  etcd_eps+=("127.0.0.1:${etcd_client[$i]}")
done
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$work/data/etcd-e$i" \
    --listen-client-urls "http://127.0.0.1:${etcd_client[$i]}" --advertise-client-urls "http://127.0.0.1:${etcd_client[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${etcd_peer[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${etcd_peer[$i]}" \
    --initial-cluster "$etcd_cluster" --initial-cluster-state new --initial-cluster-token "compare-$$" \
    >"$out/logs/etcd-e$i.log" 2>&1 &
  pids+=($!)
  etcd_pids+=($!)
done
etcd_endpoints=$(IFS=,; echo "${etcd_eps[*]}")
for e in "${etcd_eps[@]}"; do
  wait_for 30 "etcd at $e" sh -c "curl -fsS http://$e/health | grep -q '\"health\":\"true\"'"
done
log "etcd $(etcd --version | head -1 | awk '{print $3}'): 3 members at $etcd_endpoints"

# --- redis: primary + 2 replicas -------------------------------------------------------
redis_ports=()
redis_pids=()
for i in 0 1 2; do
  p=$(free_port)
  redis_ports+=("$p")
  mkdir -p "$work/data/redis-$i"
  args=(--port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/data/redis-$i" --daemonize no --protected-mode no)
  if [ "$i" != 0 ]; then args+=(--replicaof 127.0.0.1 "${redis_ports[0]}"); fi
  redis-server "${args[@]}" >"$out/logs/redis-$i.log" 2>&1 &
  pids+=($!)
  redis_pids+=($!)
done
redis_primary="127.0.0.1:${redis_ports[0]}"
wait_for 30 "2 redis replicas" sh -c "redis-cli -p ${redis_ports[0]} info replication | grep -q '^connected_slaves:2'"
for p in "${redis_ports[@]:1}"; do
  wait_for 30 "redis replica $p in sync" sh -c "redis-cli -p $p info replication | grep -q '^master_link_status:up'"
done
log "redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'): primary $redis_primary, 2 replicas"

# --- load -------------------------------------------------------------------------
common=(--records "$records" --value-size 100 --distribution uniform --key-prefix r/)
if [ "$kv_runs" = 1 ]; then
log "loading $records keys into each store"
"$qkv" bench --driver quorumkv --endpoints "$qkv_endpoints" --workload load --consistency all --clients 32 "${common[@]}" -o json >"$out/runs/load-quorumkv.json" 2>"$out/logs/load-quorumkv.log"
"$qkv" bench --driver etcd --endpoints "$etcd_endpoints" --workload load --clients 32 "${common[@]}" -o json >"$out/runs/load-etcd.json" 2>"$out/logs/load-etcd.log"
"$qkv" bench --driver redis --endpoints "$redis_primary" --workload load --redis-wait 2 --clients 32 "${common[@]}" -o json >"$out/runs/load-redis.json" 2>"$out/logs/load-redis.log"
fi

# --- the runs -----------------------------------------------------------------------
# name | system | driver flags | workload | client counts | operation compared
# Each store gets one client, as an application would have: quorumkv's sends
# each request to a replica of its key (one stream per node; a register
# request to the key's preferred proposer), etcd's spreads requests over the
# members.
kv_cases=(
  "qkv_put_w2|qkv|--driver quorumkv --endpoints $qkv_endpoints --conns 1 --w 2 --fresh-keys|write"
  "etcd_put|etcd|--driver etcd --endpoints $etcd_endpoints|write"
  "redis_put_wait1|redis|--driver redis --endpoints $redis_primary --redis-wait 1|write"
  "qkv_get_r2|qkv|--driver quorumkv --endpoints $qkv_endpoints --conns 1 --r 2|c"
  "qkv_get_r1|qkv|--driver quorumkv --endpoints $qkv_endpoints --conns 1 --r 1|c"
  "etcd_get_linearizable|etcd|--driver etcd --endpoints $etcd_endpoints|c"
  "etcd_get_serializable|etcd|--driver etcd --endpoints $etcd_endpoints --etcd-serializable|c"
)
serial_cases=(
  "qkv_cas|qkv|--driver quorumkv --endpoints $qkv_endpoints --conns 1|cas|$cas_clients|cas"
  "etcd_cas_txn|etcd|--driver etcd --endpoints $etcd_endpoints|cas|$cas_clients|cas"
  "qkv_hot_incr|qkv|--driver quorumkv --endpoints $qkv_endpoints --conns 1|hot-incr|$hot_clients|incr"
  "etcd_hot_incr|etcd|--driver etcd --endpoints $etcd_endpoints|hot-incr|$hot_clients|incr"
  "qkv_lock|qkv|--driver quorumkv --endpoints $qkv_endpoints --conns 1|lock|$lock_clients|lock"
  "etcd_lock|etcd|--driver etcd --endpoints $etcd_endpoints|lock|$lock_clients|lock"
  "qkv_keepalive|qkv|--driver quorumkv --endpoints $qkv_endpoints --conns 1|keepalive|$keepalive_clients|keepalive"
  "etcd_keepalive|etcd|--driver etcd --endpoints $etcd_endpoints|keepalive|$keepalive_clients|keepalive"
)
# One round's runs, as "clients|case": the put and get cases for each
# client count, then the register and lock cases for each of theirs, every
# quorumkv run next to the etcd run it is compared with (on even rounds the
# etcd run of such a pair goes first: whichever runs first can gain from
# it).
plan=()
if [ "$kv_runs" = 1 ]; then
  for c in $clients_list; do
    for spec in "${kv_cases[@]}"; do plan+=("$c|$spec||total"); done
  done
fi
if [ "$serial_runs" = 1 ]; then
  for c in $(printf '%s\n' $cas_clients $hot_clients $lock_clients $keepalive_clients | sort -nu); do
    for spec in "${serial_cases[@]}"; do
      IFS='|' read -r _ _ _ _ counts _ <<<"$spec"
      case " $counts " in *" $c "*) plan+=("$c|$spec") ;; esac
    done
  done
fi
: >"$out/runs/plan"
for entry in "${plan[@]}"; do
  IFS='|' read -r c name _ _ _ _ op <<<"$entry"
  echo "$name $c $op" >>"$out/runs/plan"
done
# cpu_ticks PID...: user+system CPU time of the processes, in clock ticks.
cpu_ticks() {
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
hz=$(getconf CLK_TCK)
# round_order ROUND: the plan in the order of that round (register and lock
# pairs swapped on even rounds) into order.
round_order() {
  local i=0 entry
  order=()
  while [ "$i" -lt "${#plan[@]}" ]; do
    entry=${plan[$i]}
    if [ $(($1 % 2)) = 0 ] && [ "${entry##*|}" != total ]; then
      order+=("${plan[$((i + 1))]}" "$entry")
      i=$((i + 2))
    else
      order+=("$entry")
      i=$((i + 1))
    fi
  done
}
total=$((rounds * ${#plan[@]}))
n=0
for round in $(seq "$rounds"); do
  round_order "$round"
  for entry in "${order[@]}"; do
    IFS='|' read -r c name system flags workload _ op <<<"$entry"
    n=$((n + 1))
    tag="${name}_c${c}_r${round}"
    run_duration=$duration
    run_warmup=$warmup
    case "$workload" in
      write) keys=(--records 1000000 --value-size 100 --distribution uniform --key-prefix "w-$tag/") ;;
      cas | hot-incr | lock)
        # The workload's own key space (cas and lock 10000 keys, hot-incr
        # one), on a prefix no run used.
        keys=(--value-size 100 --key-prefix "s-$tag/")
        run_duration=$serial_duration
        run_warmup=$serial_warmup
        ;;
      keepalive)
        # 10000 leases of 60 s (none lapses between two renewals of a
        # closed loop), granted before the clock starts and revoked after.
        keys=(--lock-ttl 60s)
        run_duration=$serial_duration
        run_warmup=$serial_warmup
        ;;
      *) keys=("${common[@]}") ;;
    esac
    case "$system" in
      qkv) spids=("${qkv_pids[@]}") ;;
      etcd) spids=("${etcd_pids[@]}") ;;
      redis) spids=("${redis_pids[@]}") ;;
    esac
    cpu0=$(cpu_ticks "${spids[@]}")
    # shellcheck disable=SC2086 # flags is a word list
    "$qkv" bench $flags --workload "$workload" --clients "$c" --duration "$run_duration" --warmup "$run_warmup" \
      --interval "$interval" --seed "$round" "${keys[@]}" -o json --plot "$out/runs/$tag.png" \
      >"$out/runs/$tag.json" 2>"$out/logs/$tag.log" || { log "run $tag failed: $(tail -1 "$out/logs/$tag.log")"; exit 1; }
    echo "$(( $(cpu_ticks "${spids[@]}") - cpu0 )) $hz" >"$out/runs/$tag.cpu"
    log "[$n/$total] $tag: $(python3 - "$out/runs/$tag.json" "$op" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
t = rep["total"] if sys.argv[2] == "total" else rep["results"].get(sys.argv[2], rep["total"])
line = "%.0f ops/s, p99 %.2f ms, errors %d" % (t["ops_per_sec"], t["latency_ms"]["p99"], sum(t["errors"].values()))
if sys.argv[2] != "total":
    line += ", conflicts %d, retries %d, longest client wait %.0f ms" % (t["conflicts"], t["retries"], rep["starvation"]["worst_gap_ms"])
    if t.get("receipts"):
        line += ", fast path %.1f%%, %.2f rounds/op" % (t["receipts"]["fast_path_share"] * 100, t["receipts"]["rounds_per_op"])
print(line)
PY
)"
  done
done

# Watch latency (with the register runs): --watchers watches of one group,
# 100 puts a second for the serial duration, quorumkv and etcd in turn;
# first with a client per watcher (independent services watching a
# registry: watch_p99_vs_etcd), then with every watcher on the writer's
# client (watch_p99_vs_etcd_shared).
if [ "$serial_runs" = 1 ]; then
  for round in $(seq "$rounds"); do
    for conns in own shared; do
      for system in qkv etcd; do
        [ $((round % 2)) = 0 ] && system=$([ "$system" = qkv ] && echo etcd || echo qkv)
        tag="${system}_watch_w${watchers}_${conns}_r${round}"
        if [ "$system" = qkv ]; then wflags=(--driver quorumkv --endpoints "$qkv_endpoints"); else wflags=(--driver etcd --endpoints "$etcd_endpoints"); fi
        "$qkv" bench watch "${wflags[@]}" --watchers "$watchers" --rate "$watch_rate" --duration "$serial_duration" \
          --watcher-conns "$conns" --group "w-$tag" -o json >"$out/runs/$tag.json" 2>"$out/logs/$tag.log" || { log "run $tag failed: $(tail -1 "$out/logs/$tag.log")"; exit 1; }
        log "$tag: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["events"], "events,", r["missing"], "missing, p99", r["latency_ms"]["p99"], "ms")' "$out/runs/$tag.json")"
      done
    done
  done
fi

# Keep-alives on their schedule (with the register runs): --ttl3-leases
# leases of 10s, each renewed every ttl/3 (open loop, the leases in turn),
# quorumkv and etcd in turn; the servers' CPU is counted from the end of
# the grants ("warming up" in the run's log) to the end of the last
# keep-alive ("cleaning up", before the revokes), per keep-alive sent in
# that time (warm-up and measured).
if [ "$serial_runs" = 1 ] && [ "$ttl3_leases" -gt 0 ]; then
  ttl3_rate=$(python3 -c "print(round($ttl3_leases / (10 / 3)))")
  for round in $(seq "$rounds"); do
    for system in qkv etcd; do
      [ $((round % 2)) = 0 ] && system=$([ "$system" = qkv ] && echo etcd || echo qkv)
      tag="${system}_keepalive_ttl3_r${round}"
      if [ "$system" = qkv ]; then
        kflags=(--driver quorumkv --endpoints "$qkv_endpoints" --conns 1); spids=("${qkv_pids[@]}")
      else
        kflags=(--driver etcd --endpoints "$etcd_endpoints"); spids=("${etcd_pids[@]}")
      fi
      "$qkv" bench "${kflags[@]}" --workload keepalive --records "$ttl3_leases" --lock-ttl 10s --distribution sequential \
        --rate "$ttl3_rate" --clients 64 --duration "$serial_duration" --warmup "$serial_warmup" --interval "$interval" \
        --seed "$round" -o json >"$out/runs/$tag.json" 2>"$out/logs/$tag.log" &
      bpid=$!
      for _ in $(seq 1200); do grep -q "warming up" "$out/logs/$tag.log" 2>/dev/null && break; sleep 0.05; done
      cpu0=$(cpu_ticks "${spids[@]}")
      for _ in $(seq 1200); do grep -q "cleaning up" "$out/logs/$tag.log" 2>/dev/null && break; sleep 0.05; done
      cpu1=$(cpu_ticks "${spids[@]}")
      wait "$bpid" || { log "run $tag failed: $(tail -1 "$out/logs/$tag.log")"; exit 1; }
      echo "$((cpu1 - cpu0)) $hz" >"$out/runs/$tag.cpu"
      log "$tag: $(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; print("%.0f ops/s, p99 %.2f ms, errors %d" % (t["ops_per_sec"], t["latency_ms"]["p99"], sum(t["errors"].values())))' "$out/runs/$tag.json")"
    done
  done
fi

# --- summary ------------------------------------------------------------------------
python3 - "$out" "$rounds" "$quick" "$watchers" <<'PY'
import json, os, statistics, sys

out, rounds, quick, watchers = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
label = {
    "qkv_put_w2": "quorumkv put W=2", "etcd_put": "etcd put", "redis_put_wait1": "redis SET+WAIT 1",
    "qkv_get_r2": "quorumkv get R=2", "qkv_get_r1": "quorumkv get R=1",
    "etcd_get_linearizable": "etcd get linearizable", "etcd_get_serializable": "etcd get serializable",
    "qkv_cas": "quorumkv CAS", "etcd_cas_txn": "etcd Txn CAS",
    "qkv_hot_incr": "quorumkv hot Increment", "etcd_hot_incr": "etcd hot Get+Txn",
    "qkv_lock": "quorumkv lock+release", "etcd_lock": "etcd Mutex lock+unlock",
    "qkv_keepalive": "quorumkv lease keepalive", "etcd_keepalive": "etcd LeaseKeepAlive",
}
# One round's runs, in order: name, client count, the operation compared
# ("total": every operation).
plan = []
for line in open(os.path.join(out, "runs", "plan")):
    name, c, op = line.split()
    plan.append((name, int(c), op))

def pick(rep, op):
    return rep["total"] if op == "total" else rep["results"].get(op, rep["total"])

med, cpu_med, p999_med, serial = {}, {}, {}, {}
rows, serial_rows = [], []
for name, c, op in plan:
    reps = [json.load(open(os.path.join(out, "runs", f"{name}_c{c}_r{r}.json"))) for r in range(1, rounds + 1)]
    res = [pick(r, op) for r in reps]
    ops = [x["ops_per_sec"] for x in res]
    p50 = statistics.median(x["latency_ms"]["p50"] for x in res)
    p99 = statistics.median(x["latency_ms"]["p99"] for x in res)
    p999 = statistics.median(x["latency_ms"]["p99_9"] for x in res)
    errs = sum(sum(x["errors"].values()) for x in res)
    cpu = []  # server CPU (all three processes) per operation (every step), warmup included, in µs
    for r, rep in zip(range(1, rounds + 1), reps):
        ticks, hz = open(os.path.join(out, "runs", f"{name}_c{c}_r{r}.cpu")).read().split()
        n = rep["warmup_ops"] + rep["total"]["count"] + sum(rep["total"]["errors"].values())
        cpu.append(int(ticks) / int(hz) * 1e6 / n if n else 0)
    med[(name, c)] = statistics.median(ops)
    cpu_med[(name, c)] = statistics.median(cpu)
    p999_med[(name, c)] = p999
    rows.append((label[name], c, statistics.median(ops), min(ops), max(ops), p50, p99, p999, statistics.median(cpu), errs))
    if op != "total":
        counts = [x["count"] for x in res]
        receipts = [x["receipts"] for x in res if x.get("receipts")]
        s = {
            "conflicts_per_op": round(sum(x["conflicts"] for x in res) / max(sum(counts), 1), 4),
            "retries_per_op": round(sum(x["retries"] for x in res) / max(sum(counts), 1), 3),
            # the starvation check: the longest wait of any client in any round
            "worst_client_wait_ms": max(r["starvation"]["worst_gap_ms"] for r in reps),
            "starved_clients": max(r["starvation"]["starved_clients"] for r in reps),
        }
        if receipts:
            s["fast_path_share"] = statistics.median(x["fast_path_share"] for x in receipts)
            s["rounds_per_op"] = statistics.median(x["rounds_per_op"] for x in receipts)
        serial[f"{name}_c{c}"] = s
        serial_rows.append((label[name], c, s))

print()
print(f"medians of {rounds} rounds{' (quick)' if quick else ''}; ops/s of successful operations, latency in ms,")
print("server CPU = CPU time of the store's three processes per operation, in µs;")
print("register and lock rows count their own operation (cas, incr, lock), not the reads before a key's first cas")
print(f"{'case':<24}{'clients':>8}{'ops/s':>10}{'min':>9}{'max':>9}{'p50':>9}{'p99':>9}{'p99.9':>9}{'srv CPU':>9}{'errors':>8}")
for l, c, o, lo, hi, p50, p99, p999, cpu, e in rows:
    print(f"{l:<24}{c:>8}{o:>10.0f}{lo:>9.0f}{hi:>9.0f}{p50:>9.2f}{p99:>9.2f}{p999:>9.2f}{cpu:>9.0f}{e:>8}")

if serial_rows:
    print()
    print("register and lock runs: conflicts and driver retries per operation, quorumkv's fast-path share and")
    print("rounds per operation (medians), the longest wait of any client between completed operations (max)")
    print(f"{'case':<24}{'clients':>8}{'conflicts':>11}{'retries':>9}{'fast path':>11}{'rounds':>8}{'max wait ms':>13}{'starved':>9}")
    for l, c, s in serial_rows:
        fp = f"{s['fast_path_share'] * 100:>10.1f}%" if "fast_path_share" in s else f"{'-':>11}"
        rd = f"{s['rounds_per_op']:>8.2f}" if "rounds_per_op" in s else f"{'-':>8}"
        print(f"{l:<24}{c:>8}{s['conflicts_per_op']:>11.4f}{s['retries_per_op']:>9.2f}{fp}{rd}{s['worst_client_wait_ms']:>13.0f}{s['starved_clients']:>9}")

pairs = [
    ("put_w2_vs_etcd", "qkv_put_w2", "etcd_put", "quorumkv put W=2 / etcd put"),
    ("get_r2_vs_etcd_linearizable", "qkv_get_r2", "etcd_get_linearizable", "quorumkv get R=2 / etcd linearizable get"),
    ("get_r1_vs_etcd_serializable", "qkv_get_r1", "etcd_get_serializable", "quorumkv get R=1 / etcd serializable get"),
    ("put_w2_vs_redis_wait1", "qkv_put_w2", "redis_put_wait1", "quorumkv put W=2 / redis SET+WAIT 1"),
    ("cas_vs_etcd_txn", "qkv_cas", "etcd_cas_txn", "quorumkv CAS / etcd Txn"),
    ("hot_incr_vs_etcd", "qkv_hot_incr", "etcd_hot_incr", "quorumkv hot Increment / etcd Get+Txn loop"),
    ("lock_vs_etcd_lock", "qkv_lock", "etcd_lock", "quorumkv lock+release / etcd lock+unlock"),
    ("keepalive_vs_etcd", "qkv_keepalive", "etcd_keepalive", "quorumkv keepalive / etcd LeaseKeepAlive"),
]
clients = sorted({c for _, c, _ in plan})
ratios = {}
print()
print(f"{'throughput ratio (> 1: quorumkv faster)':<46}" + "".join(f"{'c' + str(c):>8}" for c in clients))
for key, a, b, text in pairs:
    if not any((a, c) in med and (b, c) in med for c in clients):
        continue
    cells = []
    for c in clients:
        if (a, c) not in med or (b, c) not in med:
            cells.append(f"{'':>8}")
            continue
        r = round(med[(a, c)] / med[(b, c)], 2) if med[(b, c)] > 0 else None
        ratios[f"{key}_c{c}"] = r
        cells.append(f"{r:>8.2f}" if r is not None else f"{'n/a':>8}")
    print(f"{text:<46}" + "".join(cells))

watch = {}
for conns, key, what in (("own", "watch_p99_vs_etcd", "a client per watcher"), ("shared", "watch_p99_vs_etcd_shared", "every watcher on one client")):
    for system in ("qkv", "etcd"):
        reps = [os.path.join(out, "runs", f"{system}_watch_w{watchers}_{conns}_r{r}.json") for r in range(1, rounds + 1)]
        reps = [json.load(open(p)) for p in reps if os.path.exists(p)]
        if reps:
            watch[f"{system}_{conns}"] = {"p50_ms": statistics.median(r["latency_ms"]["p50"] for r in reps),
                             "p99_ms": statistics.median(r["latency_ms"]["p99"] for r in reps),
                             "p99_ms_range": [min(r["latency_ms"]["p99"] for r in reps), max(r["latency_ms"]["p99"] for r in reps)],
                             "missing": sum(r["missing"] for r in reps), "watchers": reps[0]["watchers"]}
    q, e = watch.get(f"qkv_{conns}"), watch.get(f"etcd_{conns}")
    if q and e:
        print()
        print(f"watch, {watchers} watchers ({what}), put to event (medians of {rounds} rounds): quorumkv p50 {q['p50_ms']:.2f} ms, "
              f"p99 {q['p99_ms']:.2f} ms ({q['p99_ms_range'][0]:.2f}-{q['p99_ms_range'][1]:.2f}, missing {q['missing']}); "
              f"etcd p50 {e['p50_ms']:.2f} ms, p99 {e['p99_ms']:.2f} ms ({e['p99_ms_range'][0]:.2f}-{e['p99_ms_range'][1]:.2f}, missing {e['missing']})")
        if q["p99_ms"] > 0:
            ratios[key] = round(e["p99_ms"] / q["p99_ms"], 2)

ttl3 = {}
for system in ("qkv", "etcd"):
    runs = []
    for r in range(1, rounds + 1):
        base = os.path.join(out, "runs", f"{system}_keepalive_ttl3_r{r}")
        if not os.path.exists(base + ".json"):
            continue
        rep = json.load(open(base + ".json"))
        ticks, hz = open(base + ".cpu").read().split()
        sent = rep["total"]["count"] + rep.get("warmup_ops", 0)
        runs.append((rep["total"]["ops_per_sec"], rep["total"]["latency_ms"]["p99"], sum(rep["total"]["errors"].values()),
                     int(ticks) / int(hz) * 1e6 / sent if sent else 0))
    if runs:
        cpus = [x[3] for x in runs]
        ttl3[system] = {"ops_per_sec": statistics.median(x[0] for x in runs), "p99_ms": statistics.median(x[1] for x in runs),
                        "errors": sum(x[2] for x in runs), "server_cpu_us_per_keepalive": round(statistics.median(cpus), 1),
                        "server_cpu_us_range": [round(min(cpus), 1), round(max(cpus), 1)]}
if ttl3:
    print()
    for system, label in (("qkv", "quorumkv"), ("etcd", "etcd")):
        if system in ttl3:
            t = ttl3[system]
            print(f"keep-alives every ttl/3 ({label}): {t['ops_per_sec']:.0f}/s, p99 {t['p99_ms']:.2f} ms, errors {t['errors']}, "
                  f"servers' CPU {t['server_cpu_us_per_keepalive']:.0f} µs per keep-alive ({t['server_cpu_us_range'][0]:.0f}-{t['server_cpu_us_range'][1]:.0f}; medians of {rounds} rounds)")

summary = {"rounds": rounds, "clients": clients, "quick": quick, "watch": watch, "keepalive_ttl3": ttl3,
           "medians_ops_per_sec": {f"{n}_c{c}": v for (n, c), v in med.items()},
           "medians_server_cpu_us_per_op": {f"{n}_c{c}": round(v, 1) for (n, c), v in cpu_med.items()},
           "medians_p99_9_ms": {f"{n}_c{c}": v for (n, c), v in p999_med.items()},
           "serial": serial,
           "ratios": ratios}
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
print()
print(f"results: {out} (runs/*.json, runs/*.png, summary.json, logs/)")
print(json.dumps(ratios))
PY
