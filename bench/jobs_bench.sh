#!/usr/bin/env bash
# Jobs on a real cluster (issue 6): starts N polderd on loopback (fsync on,
# as always) in its own testnet dir, each offering --cpus CPU slots, waits
# until every node reaches every other, runs polder-bench-jobs against all
# of them and prints its JSON. The testnet is stopped and removed on any
# exit (trap).
#
#   bench/jobs_bench.sh [--nodes 5] [--seconds 60] [--threads 10] [--rate 0]
#                       [--cpus 64] [--base-port 33400] [--drain-seconds 120]
#   (--rate N: open loop, N submits/s in total over the threads; 0 = closed loop;
#    --keep-logs DIR: copy each node's polderd.log, and its /metrics as
#    nN.metrics, there before the teardown)
#   (or: make bench-jobs)
#
# The nodes are set up as testnet/up does (same init flags, every node a
# seed of every other), but [resources] cpus is raised before they start:
# init writes cpus = 1, which would admit one `true` at a time per node.
set -euo pipefail

NODES=5
SECONDS_LOAD=60
THREADS=10
CPUS=64
BASE_PORT=33400
DRAIN=120
RATE=0
KEEP_LOGS=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --seconds) SECONDS_LOAD="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --cpus) CPUS="$2"; shift 2 ;;
    --base-port) BASE_PORT="$2"; shift 2 ;;
    --drain-seconds) DRAIN="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --keep-logs) KEEP_LOGS="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "jobs_bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for v in NODES THREADS CPUS BASE_PORT; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -ge 1 ]] || { echo "jobs_bench.sh: --${v,,} must be a positive integer" >&2; exit 2; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=${BUILD:-$ROOT/build}
export TESTNET_DIR
TESTNET_DIR=$(mktemp -d "${TMPDIR:-/tmp}/polder-jobs-bench-XXXXXX")
# shellcheck source=../testnet/lib.sh
source "$ROOT/testnet/lib.sh"
BENCH="$BUILD/bench/polder-bench-jobs"
for b in "$BUILD/polderd" "$BUILD/polder" "$BENCH"; do
  [[ -x "$b" ]] || { echo "jobs_bench.sh: $b not built (cmake --build $BUILD)" >&2; exit 1; }
done
log() { echo "jobs_bench: $*" >&2; }
keep_logs() {
  [[ -n "$KEEP_LOGS" ]] || return 0
  mkdir -p "$KEEP_LOGS"
  local d http
  for d in "$TESTNET_DIR"/n*; do
    cp "$d/polderd.log" "$KEEP_LOGS/$(basename "$d").log" 2> /dev/null || true
    http=$(sed -n 's/^http_listen = "\(.*\)"/\1/p' "$d/polderd.toml" 2> /dev/null)
    [[ -n "$http" ]] && curl -s -m 2 "http://$http/metrics" > "$KEEP_LOGS/$(basename "$d").metrics" 2> /dev/null || true
  done
}
trap 'keep_logs; "$ROOT/testnet/down" >&2' EXIT

for i in $(seq 1 "$NODES"); do
  "$BUILD/polderd" init --dir "$TESTNET_DIR/n$i" --name "n$i" --region eu-central --operator "op$i" \
    --listen "tcp://127.0.0.1:$((BASE_PORT + 2 * i))" \
    --client-listen "tcp://127.0.0.1:$((BASE_PORT + 2 * i + 1))" > /dev/null
  sed -i "s/^cpus = .*/cpus = $CPUS/" "$TESTNET_DIR/n$i/polderd.toml"
done
for i in $(seq 1 "$NODES"); do
  for j in $(seq 1 "$NODES"); do
    [[ $i == "$j" ]] && continue
    printf '\n[[network.seeds]]\nkey = "%s"\naddress = "%s"\n' "$(tn_key "n$j")" "$(tn_listen "n$j")" \
      >> "$TESTNET_DIR/n$i/polderd.toml"
  done
done
for node in $(tn_nodes); do tn_start "$node"; done

log "$NODES nodes (cpus = $CPUS each) starting in $TESTNET_DIR; waiting until every node reaches every other"
deadline=$((SECONDS + 30 + NODES))
while :; do
  ready=0
  for node in $(tn_nodes); do
    [[ "$(tn_peers_reachable "$node")" == $((NODES - 1)) ]] && ready=$((ready + 1))
  done
  [[ $ready == "$NODES" ]] && break
  [[ $SECONDS -lt $deadline ]] || { log "only $ready of $NODES nodes connected; see $TESTNET_DIR/n*/polderd.log"; exit 1; }
  sleep 0.3
done
# Gossip must also carry every node's capacity record before placement can use it.
sleep 2

clients=()
for node in $(tn_nodes); do clients+=(--client "$TESTNET_DIR/$node/client.toml"); done
log "submitting for ${SECONDS_LOAD}s with $THREADS client threads"
"$BENCH" "${clients[@]}" --seconds "$SECONDS_LOAD" --threads "$THREADS" --drain-seconds "$DRAIN" --rate "$RATE"
