# Shared helpers of the testnet scripts. Sourced, not run.
# State lives in $TESTNET_DIR (default /tmp/polder-testnet): one folder per
# node (n1, n2, ...) with its polderd.toml, client.toml, keys, data, log and pid.

TESTNET_DIR=${TESTNET_DIR:-/tmp/polder-testnet}
BUILD=${BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build}

tn_nodes() {
  local d
  for d in "$TESTNET_DIR"/n*; do [[ -f "$d/polderd.toml" ]] && basename "$d"; done | sort -V
}

tn_key() { sed -n 's/^node_key = "\(.*\)"/\1/p' "$TESTNET_DIR/$1/client.toml"; }

tn_listen() { sed -n 's/^listen = "\(.*\)"/\1/p' "$TESTNET_DIR/$1/polderd.toml"; }

tn_polder() {
  local node=$1
  shift
  "$BUILD/polder" --config "$TESTNET_DIR/$node/client.toml" "$@"
}

tn_start() {
  local node=$1
  "$BUILD/polderd" run --config "$TESTNET_DIR/$node/polderd.toml" >> "$TESTNET_DIR/$node/polderd.log" 2>&1 &
  echo $! > "$TESTNET_DIR/$node/pid"
}

tn_pid() { cat "$TESTNET_DIR/$1/pid" 2>/dev/null; }

tn_alive() {
  local pid
  pid=$(tn_pid "$1")
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# Number of peers node $1 currently reaches (from `polder info --json`).
tn_peers_reachable() {
  tn_polder "$1" --json --timeout-ms 1000 info 2>/dev/null | sed -n 's/.*"peers_reachable":\([0-9]*\).*/\1/p'
}
