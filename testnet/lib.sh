# Shared helpers of the testnet scripts. Sourced, not run.
# State lives in $TESTNET_DIR (default /tmp/polder-testnet): one folder per
# node (n1, n2, ...) with its polderd.toml, client.toml, keys, data, log and pid.
# A testnet started with --netns also has $TESTNET_DIR/netns: one line
# "bridge NAME ADDRESS/PREFIX", then one "node nX NAMESPACE VETH ADDRESS" per node.

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

# True when the testnet runs its nodes in network namespaces (testnet/up --netns).
tn_is_netns() { [[ -f "$TESTNET_DIR/netns" ]]; }

# Namespace and address of node $1 in a --netns testnet (empty otherwise).
tn_netns() { [[ ! -f "$TESTNET_DIR/netns" ]] || awk -v n="$1" '$1 == "node" && $2 == n { print $3 }' "$TESTNET_DIR/netns"; }
tn_addr() { [[ ! -f "$TESTNET_DIR/netns" ]] || awk -v n="$1" '$1 == "node" && $2 == n { print $5 }' "$TESTNET_DIR/netns"; }

# Starts node $1's polderd in the background (inside its namespace when the
# testnet has them; `ip netns exec` execs, so the pid is polderd's).
tn_start() {
  local node=$1 ns
  local -a extra=()
  ns=$(tn_netns "$node")
  # An invited node joins with its invitation once; polderd stores it, so later starts need none.
  if [[ -f "$TESTNET_DIR/$node/invitation" ]]; then
    mv "$TESTNET_DIR/$node/invitation" "$TESTNET_DIR/$node/invitation.used"
    extra=(--invitation "$TESTNET_DIR/$node/invitation.used")
  fi
  if [[ -n "$ns" ]]; then
    ip netns exec "$ns" "$BUILD/polderd" run --config "$TESTNET_DIR/$node/polderd.toml" "${extra[@]}" \
      >> "$TESTNET_DIR/$node/polderd.log" 2>&1 &
  else
    "$BUILD/polderd" run --config "$TESTNET_DIR/$node/polderd.toml" "${extra[@]}" \
      >> "$TESTNET_DIR/$node/polderd.log" 2>&1 &
  fi
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

# Waits up to $2 seconds until every node reaches $1 peers; prints the count
# of nodes that do and fails if not all do in time.
tn_wait_connected() {
  local want=$1 within_s=$2 deadline ready node n
  n=$(tn_nodes | wc -l)
  deadline=$((SECONDS + within_s))
  while :; do
    ready=0
    for node in $(tn_nodes); do
      [[ "$(tn_peers_reachable "$node")" == "$want" ]] && ready=$((ready + 1))
    done
    [[ $ready == "$n" ]] && return 0
    if [[ $SECONDS -ge $deadline ]]; then
      echo "$ready"
      return 1
    fi
    sleep 0.3
  done
}

# Blackhole routes of a --netns testnet (testnet/cut): "nX nY" per cut pair,
# read back from the namespaces themselves so that they are the truth.
tn_cuts() {
  local node ns peer addr
  for node in $(tn_nodes); do
    ns=$(tn_netns "$node")
    [[ -n "$ns" ]] || continue
    for addr in $(ip -n "$ns" route show type blackhole 2>/dev/null | awk '{ print $2 }'); do
      peer=$(awk -v a="${addr%/32}" '$1 == "node" && $5 == a { print $2 }' "$TESTNET_DIR/netns")
      [[ -n "$peer" ]] && echo "$node $peer"
    done
  done
}

# The nodes of one side of testnet/cut or testnet/heal, on one line: $1 is
# "nX", "nX,nY,..." or "rest" (every node not in side $2). Fails, saying why,
# on an unknown node.
tn_side() {
  local spec=$1 other=$2 node
  if [[ $spec == rest ]]; then
    [[ $other != rest ]] || { echo "testnet: both sides cannot be rest" >&2; return 1; }
    for node in $(tn_nodes); do
      [[ ",$other," == *",$node,"* ]] || printf '%s ' "$node"
    done
    echo
    return 0
  fi
  for node in ${spec//,/ }; do
    [[ -n "$(tn_netns "$node")" ]] || { echo "testnet: no node $node in $TESTNET_DIR" >&2; return 1; }
    printf '%s ' "$node"
  done
  echo
}
