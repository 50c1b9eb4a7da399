#!/usr/bin/env bash
# The Compose deployment end to end (`make compose-test`): builds the image,
# brings deploy/compose.yaml up under a project name of its own (its own
# network, volumes and host ports, so it runs beside anything else), then,
# with the CLI on the host: waits for a 3-member ring, writes and reads
# through node 1's published port, reads through the `cli` service, kills
# node3, reads and writes at QUORUM, and sees a read at ALL refused. Everything it
# made (containers, network, volumes, image) is removed at exit, on failure
# too. Every wait is bounded. Needs Docker Engine and docker-compose.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE_FILE=deploy/compose.yaml
PROJECT="qkvtest$$$(date +%s)"
export QKV_IMAGE="quorumkv:compose-test-$PROJECT"
# Empty: Docker picks free host ports for node 1 (read back below).
export QKV_GRPC_PORT="" QKV_HTTP_PORT="" QKV_BIND=127.0.0.1
CLI=.build/image/quorumkv # the static binary the image holds; it runs here too
START=$SECONDS
PASSED=0

log() { echo "compose-test: $*"; }
fail() {
  log "FAIL: $*" >&2
  exit 1
}
pass() {
  PASSED=$((PASSED + 1))
  log "ok: $*"
}

# dc runs docker-compose on this project, never longer than $1 seconds.
dc() {
  local limit=$1
  shift
  timeout "$limit" docker-compose -f "$COMPOSE_FILE" -p "$PROJECT" "$@"
}

# cleanup prints the nodes' last logs after a failure, then removes the
# containers, the network, the volumes and the image.
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    log "failed after $((SECONDS - START)) s; the nodes' last log lines:" >&2
    dc 60 logs --no-color --tail 30 >&2 || true
  fi
  dc 120 down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || log "docker-compose down failed: remove project $PROJECT by hand" >&2
  docker rmi -f "$QKV_IMAGE" >/dev/null 2>&1 || true
  exit "$rc"
}

# http_get prints the status line of GET http://127.0.0.1:$1$2, in pure
# bash (no curl needed), within 5 seconds.
http_get() {
  timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 && printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$2" >&3 && head -n 1 <&3' _ "$1" "$2" | tr -d '\r'
}

# host_port prints the host port Docker published for node1's $1.
host_port() {
  local addr
  addr=$(dc 30 port node1 "$1") || fail "no published port for node1:$1"
  echo "${addr##*:}"
}

# wait_down waits (at most $2 seconds) until node1 reports member $1 down.
wait_down() {
  local deadline=$((SECONDS + $2)) st
  while [ "$SECONDS" -lt "$deadline" ]; do
    st=$("$CLI" ring status -o json --timeout 5s 2>/dev/null | tr -d ' \n') || true
    grep -q "\"id\":\"$1\"[^{}]*\"status\":\"down\"" <<<"$st" && return 0
    sleep 1
  done
  fail "member $1 not reported down within $2 s"
}

# values_of prints the values in the output of `quorumkv get`, one a line.
values_of() { awk '$1 == "value" {print $2} $1 == "sibling" {print $3}' <<<"$1"; }

# expect_value reads KEY ($2, with the CLI flags after it) and fails unless
# its one value is $1.
expect_value() {
  local want=$1 out
  shift
  out=$("$CLI" get "$@" 2>&1) || fail "quorumkv get $*: $out"
  [ "$(values_of "$out")" = "$want" ] || fail "quorumkv get $*: want the value $want, got: $out"
}

# expect_refused runs the CLI and fails unless it exits non-zero without
# printing a value.
expect_refused() {
  local rc=0 out
  out=$("$CLI" "$@" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] && ! grep -q '^value' <<<"$out" || fail "quorumkv $* was not refused (exit $rc): $out"
  log "refused as it should be (exit $rc): $out"
}

command -v docker >/dev/null || fail "docker not found"
command -v docker-compose >/dev/null || fail "docker-compose not found (Debian package docker-compose)"
timeout 30 docker info >/dev/null 2>&1 || fail "the Docker daemon does not answer"

log "building the image $QKV_IMAGE"
make --no-print-directory image IMAGE="$QKV_IMAGE" >/dev/null || fail "make image"
trap cleanup EXIT
trap 'exit 130' INT TERM # the EXIT trap cleans up after a signal too

log "starting project $PROJECT (image built in $((SECONDS - START)) s)"
UP=$SECONDS
dc 120 up -d --no-build node1 node2 node3 || fail "docker-compose up"
GRPC_PORT=$(host_port 7101)
HTTP_PORT=$(host_port 7301)
export QUORUMKV_ENDPOINTS="127.0.0.1:$GRPC_PORT"
log "node1 published on 127.0.0.1:$GRPC_PORT (gRPC) and 127.0.0.1:$HTTP_PORT (admin HTTP)"

"$CLI" ring wait --members 3 --timeout 120s || fail "the ring did not form within 120 s"
pass "ring of 3 ready $((SECONDS - UP)) s after docker-compose up"

status=$(http_get "$HTTP_PORT" /readyz) || fail "GET /readyz on 127.0.0.1:$HTTP_PORT: no answer"
[[ $status == *" 200 "* ]] || fail "GET /readyz: $status, want 200"
pass "node1 /readyz: $status"

"$CLI" put greeting hello --consistency all --timeout 20s >/dev/null || fail "put at ALL through 127.0.0.1:$GRPC_PORT"
pass "put greeting at ALL"
expect_value hello greeting --timeout 20s
pass "get greeting through the published port"

out=$(dc 60 run --rm cli get greeting 2>/dev/null) || fail "docker-compose run --rm cli get greeting"
[ "$(values_of "$out")" = hello ] || fail "get greeting from the cli service: want hello, got: $out"
pass "get greeting from the cli service on the nodes' network"

log "killing node3"
dc 60 kill node3 >/dev/null 2>&1 || fail "docker-compose kill node3"
KILLED=$SECONDS
expect_value hello greeting --consistency quorum --timeout 30s
pass "get greeting at QUORUM with node3 down"
"$CLI" put greeting hello2 --consistency quorum --timeout 30s >/dev/null || fail "put at QUORUM with node3 down"
expect_value hello2 greeting --consistency quorum --timeout 30s
pass "put and get at QUORUM with node3 down"
wait_down n3 60
pass "n3 reported down after $((SECONDS - KILLED)) s"
# A level is never lowered: ALL needs node3. A killed container's address
# does not refuse connections, it stops answering, so the coordinators wait
# on node3 and the client gives up on them as quiet (exit 1, "node went
# quiet"); where the dead node's port refuses at once the answer is
# "unavailable" (exit 3). Either way nothing is read.
expect_refused get greeting --consistency all --timeout 30s
pass "get at ALL with node3 down is refused"

log "$((SECONDS - START)) s in all, image build included"
echo "compose-test: $PASSED passed, 0 failed"
