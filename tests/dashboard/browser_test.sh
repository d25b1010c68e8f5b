#!/usr/bin/env bash
# The dashboard in a real browser: starts a 3-node testnet, loads node n1's
# dashboard in headless Chromium and checks, in the rendered page (the DOM
# after its JavaScript ran), that every node appears in the node table and
# on the map. With SCREENSHOT=FILE it also saves a picture of the page.
#   tests/dashboard/browser_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SRC=$1
export BUILD=$2
export TESTNET_DIR=${TESTNET_DIR:-$2/testnet-dashboard}
export BASE_PORT=${BASE_PORT:-29800}
chromium=$(command -v chromium || command -v chromium-browser || true)
[[ -n "$chromium" ]] || { echo "browser_test: chromium is not installed (scripts/install-deps installs it)" >&2; exit 1; }
"$SRC/testnet/down" > /dev/null 2>&1 || true
trap '"$SRC/testnet/down" > /dev/null' EXIT
"$SRC/testnet/up" 3 --regions 2 --gpus H100:8,A100:4 > /dev/null
port=$(sed -n 's/^http_listen = "127\.0\.0\.1:\([0-9]*\)"/\1/p' "$TESTNET_DIR/n1/polderd.toml")
[[ -n "$port" ]] || { echo "browser_test: n1 has no http_listen" >&2; exit 1; }
url="http://127.0.0.1:$port/"
flags=(--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
       --user-data-dir="$TESTNET_DIR/chromium-profile" --virtual-time-budget=5000)
for attempt in 1 2 3 4 5; do
  dom=$(timeout 60 "$chromium" "${flags[@]}" --dump-dom "$url" 2> /dev/null || true)
  missing=()
  for n in n1 n2 n3; do
    grep -q "<tr data-node=\"$n\">" <<< "$dom" || missing+=("$n in the node table")
    grep -q "<g class=\"node\" data-name=\"$n\">" <<< "$dom" || missing+=("$n on the map")
  done
  [[ ${#missing[@]} == 0 ]] && break
  sleep 2
done
if [[ ${#missing[@]} != 0 ]]; then
  echo "browser_test: the rendered dashboard at $url lacks: ${missing[*]}" >&2
  echo "$dom" | head -c 3000 >&2
  exit 1
fi
if [[ -n "${SCREENSHOT:-}" ]]; then
  timeout 60 "$chromium" "${flags[@]}" --window-size=1400,900 --screenshot="$SCREENSHOT" "$url" > /dev/null 2>&1
fi
echo "browser_test: Chromium rendered all 3 nodes (table and map) from $url"
