#!/usr/bin/env bash
# Prints one table from one run: the WASM size, and latency/throughput of routes under a bounded
# load on loopback next to the runtime's own floor (a static asset served from the binary).
# Not part of the tests or CI. Usage: scripts/bench.sh [seconds per row, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false CI=true

scripts/setup.sh
if [ "$(oha --version 2>/dev/null | awk '{print $2}')" != "1.16.0" ]; then
  echo "==> installing oha 1.16.0 (load generator, once)"
  cargo install oha --version 1.16.0 --locked
fi
echo "==> building the worker"
scripts/build.sh >/dev/null 2>&1

out=bench-out
rm -rf "$out"; mkdir -p "$out"
npx wrangler deploy --dry-run --outdir "$out/dist" -c wrangler.toml >"$out/dry-run.log" 2>&1 || {
  cat "$out/dry-run.log"; exit 1; }
wasm=$(find "$out/dist" -name '*.wasm' | head -1)
raw=$(wc -c <"$wasm"); gz=$(gzip -9 -c "$wasm" | wc -c)
upload=$(grep -o 'Total Upload:.*' "$out/dry-run.log" || true)

scripts/nobuild-config.sh wrangler.toml > wrangler.bench.toml
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
insp=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
npx wrangler d1 migrations apply DB --local -c wrangler.bench.toml --persist-to "$out/state" >/dev/null 2>&1
exec 3> >(cat >/dev/null)
setsid scripts/supervise.sh npx wrangler dev -c wrangler.bench.toml --local --ip 127.0.0.1 \
  --port "$port" --inspector-port "$insp" --persist-to "$out/state" --log-level warn \
  --show-interactive-dev-session=false --var SESSION_SECRET:bench-secret-0123456789abcdef --var ADMIN_TOKEN:bench \
  >"$out/wrangler.log" 2>&1 <&3 &
trap 'exec 3>&-; rm -f wrangler.bench.toml' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do curl -s -o /dev/null "$base/healthz" && break; sleep 0.1; done

css=$(curl -s "$base/nope" | grep -o '/static/app\.[0-9a-f]*\.css' | head -1)

# route label, path, concurrency
rows=(
  "static asset (floor)|$css|8"
  "/healthz (D1 + R2)|/healthz|8"
  "404 page|/no-such-page|8"
  "lesson page|/lessons/model-api|8"
  "search page|/search?q=agentic+loop+tools|8"
  "search JSON|/api/search?q=prompt+injection|8"
)
[ -n "${BENCH_EXTRA_ROWS:-}" ] && IFS=';' read -r -a extra <<<"$BENCH_EXTRA_ROWS" && rows+=("${extra[@]}")

printf '\n| route | c | req/s | p50 ms | p99 ms | p50 vs floor |\n|---|---|---|---|---|---|\n'
floor=""
for row in "${rows[@]}"; do
  IFS='|' read -r label path conc <<<"$row"
  oha -z "${secs}s" -c "$conc" --no-tui --output-format json "$base$path" >"$out/oha.json" 2>/dev/null
  read -r rps p50 p99 < <(python3 - "$out/oha.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lp = d["latencyPercentiles"]
print(f'{d["summary"]["requestsPerSec"]:.0f} {lp["p50"]*1000:.2f} {lp["p99"]*1000:.2f}')
PY
)
  [ -z "$floor" ] && floor=$p50
  ratio=$(python3 -c "print(f'{$p50/$floor:.2f}x')")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$conc" "$rps" "$p50" "$p99" "$ratio"
done
printf '\nWASM: %s bytes raw, %s bytes gzip (%s)\n' "$raw" "$gz" "$upload"
