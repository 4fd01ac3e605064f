#!/usr/bin/env bash
# The bench: one table from one run, each row read against the local runtime's own floor.
# Not part of the tests or CI (it installs oha, and LiteLLM when BENCH_LITELLM=1).
#   scripts/bench.sh [seconds per row, default 5]
# Rows: pages next to a static asset; gateway calls straight to the stub AI Gateway, through a
# bare forwarding worker and a bare forwarding worker that first makes the academy's one D1
# round trip (bench-only build feature), through the academy, and through LiteLLM's proxy
# against the same stub; streamed time to first byte; the SSE meter's native throughput;
# 2,000 mixed requests at concurrency 50 checked for exact accounting; the WASM size.
# The worker runs in wrangler's local runtime with the DevTools inspector off (bench/dev.mjs says
# why); a last block repeats the gateway rows under the `wrangler dev` CLI, inspector on.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false CI=true

scripts/setup.sh >/dev/null
if [ "$(oha --version 2>/dev/null | awk '{print $2}')" != "1.16.0" ]; then
  echo "==> installing oha 1.16.0 (load generator, once)"
  cargo install oha --version 1.16.0 --locked
fi
out=bench-out
rm -rf "$out"; mkdir -p "$out"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

echo "==> building the worker (production, for its size) and the bench build"
scripts/build.sh >"$out/build.log" 2>&1
npx wrangler deploy --dry-run --outdir "$out/dist" -c wrangler.toml >"$out/dry-run.log" 2>&1 || { cat "$out/dry-run.log"; exit 1; }
wasm=$(find "$out/dist" -name '*.wasm' | head -1)
raw=$(wc -c <"$wasm"); gz=$(gzip -9 -c "$wasm" | wc -c)
scripts/build.sh --out-dir build-bench . --features bench >>"$out/build.log" 2>&1
cargo build --release --example stub_gateway --example sse_bench --example request_cpu >>"$out/build.log" 2>&1

stub_port=$(free_port); port=$(free_port); insp=$(free_port)
stub="http://127.0.0.1:$stub_port"
gateway="$stub/v1/test-account/test-gateway"
base="http://127.0.0.1:$port"
admin=bench-admin-token-0123456789

# Every server runs under supervise.sh reading this FIFO; this script holds its only writer
# (children get `3>&-` so they do not inherit it), so when the bench ends, or is killed, they
# all see EOF and stop.
mkfifo "$out/alive"; exec 3<>"$out/alive"
setsid scripts/supervise.sh target/release/examples/stub_gateway "$stub_port" >"$out/stub.log" 2>&1 <"$out/alive" 3>&- &
scripts/nobuild-config.sh wrangler.toml \
  | sed -e 's#^main = .*#main = "build-bench/worker/shim.mjs"#' -e 's/limit = [0-9]*, period/limit = 1000000, period/' \
  > wrangler.bench.toml
trap 'exec 3>&-; rm -f wrangler.bench.toml' EXIT
npx wrangler d1 migrations apply DB --local -c wrangler.bench.toml --persist-to "$out/state" >"$out/migrations.log" 2>&1
setsid scripts/supervise.sh node bench/dev.mjs wrangler.bench.toml "$port" "$out/state" \
  "AI_GATEWAY_URL=$gateway" "ADMIN_TOKEN=$admin" "SESSION_SECRET=bench-session-secret-0123456789" "COOKIE_SECURE=false" \
  >"$out/wrangler.log" 2>&1 <"$out/alive" 3>&- &
wait_up() { for _ in $(seq 1 600); do curl -sf -o /dev/null "$1/healthz" && return 0; sleep 0.1; done; echo "no worker at $1" >&2; cat "$out"/wrangler*.log >&2; exit 1; }
wait_up "$base"; wait_up "$stub"

# A learner with a budget that never runs out; prints its key.
bench_learner() {
  local enroll key lid
  enroll=$(curl -sf -X POST "$1/api/enroll" -H 'content-type: application/json' -d '{}')
  key=$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["key"])' "$enroll")
  lid=$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["learner_id"])' "$enroll")
  curl -sf -X PATCH "$1/api/admin/learners/$lid" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d '{"budget_usd":"100000","daily_budget_usd":"100000"}' >/dev/null
  echo "$key"
}
key=$(bench_learner "$base")

css=$(curl -s "$base/nope" | grep -o '/static/app\.[0-9a-f]*\.css' | head -1)
lesson_etag=$(curl -sI "$base/lessons/model-api" | grep -i '^etag' | cut -d' ' -f2 | tr -d '\r')
msg='{"model":"course-strong","max_tokens":64,"messages":[{"role":"user","content":"Hello [stub:usage=120,16]"}]}'
up='{"model":"claude-sonnet-5-5","max_tokens":64,"messages":[{"role":"user","content":"Hello [stub:usage=120,16]"}]}'
chat='{"model":"course-openai","max_completion_tokens":64,"messages":[{"role":"user","content":"Hello [stub:usage=120,16]"}]}'

litellm_url=""
if [ "${BENCH_LITELLM:-0}" = 1 ]; then
  echo "==> installing and starting LiteLLM's proxy (bench only)"
  venv=${LITELLM_VENV:-.bench/litellm-venv}
  if [ ! -x "$venv/bin/litellm" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q 'litellm[proxy]' >"$out/litellm-install.log" 2>&1 || true
  fi
  if [ -x "$venv/bin/litellm" ]; then
    lport=$(free_port)
    cat >"$out/litellm.yaml" <<YAML
model_list:
  - model_name: course-openai
    litellm_params: { model: openai/gpt-5-mini, api_base: "$gateway/openai", api_key: sk-bench }
general_settings: { master_key: sk-bench }
YAML
    setsid scripts/supervise.sh "$venv/bin/litellm" --config "$out/litellm.yaml" --port "$lport" >"$out/litellm.log" 2>&1 <"$out/alive" 3>&- &
    for _ in $(seq 1 600); do curl -sf -o /dev/null "http://127.0.0.1:$lport/health/liveliness" && litellm_url="http://127.0.0.1:$lport" && break; sleep 0.2; done
    sleep 10 # let its start-up work finish before the measured rows
  fi
fi

# label | method | url | concurrency | body | extra header
rows=(
  "static asset (floor)|GET|$base$css|8||"
  "/healthz (D1 + R2)|GET|$base/healthz|8||"
  "lesson page|GET|$base/lessons/model-api|8||"
  "search page|GET|$base/search?q=agentic+loop+tools|8||"
  "search JSON|GET|$base/api/search?q=prompt+injection|8||"
  "static asset (floor)|GET|$base$css|1||"
  "lesson page|GET|$base/lessons/model-api|1||"
  "lesson page, revalidated (304)|GET|$base/lessons/model-api|1||if-none-match: $lesson_etag"
  "404 page (rendered per request)|GET|$base/no-such-page|1||"
  "messages: stub directly|POST|$gateway/anthropic/v1/messages|1|$up|"
  "messages: bare forwarding worker|POST|$base/bench/forward|1|$up|"
  "messages: bare forwarding + one D1 round trip|POST|$base/bench/forward-d1|1|$up|x-api-key: $key"
  "messages: academy|POST|$base/v1/messages|1|$msg|x-api-key: $key"
  "messages: stub directly|POST|$gateway/anthropic/v1/messages|8|$up|"
  "messages: bare forwarding worker|POST|$base/bench/forward|8|$up|"
  "messages: bare forwarding + one D1 round trip|POST|$base/bench/forward-d1|8|$up|x-api-key: $key"
  "messages: academy|POST|$base/v1/messages|8|$msg|x-api-key: $key"
  "chat: academy|POST|$base/v1/chat/completions|8|$chat|authorization: Bearer $key"
)
[ -n "$litellm_url" ] && rows+=("chat: LiteLLM proxy|POST|$litellm_url/v1/chat/completions|1|$chat|authorization: Bearer sk-bench" "chat: LiteLLM proxy|POST|$litellm_url/v1/chat/completions|8|$chat|authorization: Bearer sk-bench")

# Measures each row with oha and prints it as a table line; remembers "label c" -> "rps p50".
declare -A seen
measure() {
  local row label method url conc body header args rps p50 p99 ok floor ratio note
  for row in "$@"; do
    IFS='|' read -r label method url conc body header <<<"$row"
    args=(-z "${secs}s" -c "$conc" --no-tui --output-format json -m "$method")
    [ -n "$body" ] && args+=(-H 'content-type: application/json' -d "$body")
    [ -n "$header" ] && args+=(-H "$header")
    oha "${args[@]}" "$url" >"$out/oha.json" 2>/dev/null
    read -r rps p50 p99 ok < <(python3 - "$out/oha.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lp = d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
bad = sum(v for k, v in codes.items() if not k.startswith("2") and not k.startswith("3"))
print(f'{d["summary"]["requestsPerSec"]:.0f} {lp["p50"]*1000:.2f} {lp["p99"]*1000:.2f} {"ok" if bad == 0 else f"{bad}_non2xx"}')
PY
)
    if [ "$conc" = 8 ] && [ -z "$floor8" ]; then floor8=$p50; fi
    if [ "$conc" = 1 ] && [ -z "$floor1" ]; then floor1=$p50; fi
    floor=$([ "$conc" = 1 ] && echo "$floor1" || echo "$floor8")
    ratio=$(python3 -c "print(f'{$p50/$floor:.2f}x')")
    note=""; [ "$ok" != ok ] && [[ "$label" != 404* ]] && note=" ($ok)"
    seen["$label $conc"]="$rps $p50"
    printf '| %s%s | %s | %s | %s | %s | %s |\n' "$label" "$note" "$conc" "$rps" "$p50" "$p99" "$ratio"
  done
}
field() { local v=${seen["$1"]:-}; [ -n "$v" ] && echo "$v" | cut -d' ' -f"$2"; }

printf '\n| row | c | req/s | p50 ms | p99 ms | p50 / floor |\n|---|---|---|---|---|---|\n'
floor8=""; floor1=""
measure "${rows[@]}"

sse='{"model":"course-strong","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi [stub:usage=120,16]"}]}'
sse_up='{"model":"claude-sonnet-5-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi [stub:usage=120,16]"}]}'
ct='{"content-type":"application/json"}'
read -r d50 d99 < <(node bench/ttfb.mjs "$gateway/anthropic/v1/messages" 200 "$ct" "$sse_up")
read -r f50 f99 < <(node bench/ttfb.mjs "$base/bench/forward" 200 "$ct" "$sse_up")
read -r a50 a99 < <(node bench/ttfb.mjs "$base/v1/messages" 200 "{\"content-type\":\"application/json\",\"x-api-key\":\"$key\"}" "$sse")
# The same non-streamed call with 50 ms between requests, so none overlaps the previous one's
# settlement and transcript (local D1 and R2 run on the worker's own runtime thread).
kh="{\"content-type\":\"application/json\",\"x-api-key\":\"$key\"}"
read -r gb50 gb99 < <(node bench/ttfb.mjs "$base/bench/forward" 200 "$ct" "$up" 50 full)
read -r gd50 gd99 < <(node bench/ttfb.mjs "$base/bench/forward-d1" 200 "$kh" "$up" 50 full)
read -r ga50 ga99 < <(node bench/ttfb.mjs "$base/v1/messages" 200 "$kh" "$msg" 50 full)
printf '| messages, 50 ms apart: bare forwarding worker | 1 | | %s | %s | |\n' "$gb50" "$gb99"
printf '| messages, 50 ms apart: bare forwarding + one D1 round trip | 1 | | %s | %s | |\n' "$gd50" "$gd99"
printf '| messages, 50 ms apart: academy | 1 | | %s | %s | |\n' "$ga50" "$ga99"
printf '| stream TTFB: stub directly | 1 | | %s | %s | |\n' "$d50" "$d99"
printf '| stream TTFB: bare forwarding worker | 1 | | %s | %s | |\n' "$f50" "$f99"
printf '| stream TTFB: academy | 1 | | %s | %s | |\n' "$a50" "$a99"

echo
# The issue's two gateway targets, read off this run.
python3 - "$(field 'messages: academy 1' 2)" "$(field 'messages: bare forwarding + one D1 round trip 1' 2)" "$ga50" "$gd50" \
  "$(field 'chat: academy 8' 1)" "$(field 'chat: LiteLLM proxy 8' 1)" <<'PY'
import sys
a1, d1, a50, d50, chat8, lite8 = (float(x) if x else None for x in sys.argv[1:])
def line(name, a, d):
    print(f"Target, {name}: academy p50 {a:.2f} ms vs bare + one D1 round trip {d:.2f} ms + 1 ms: "
          f"{'met' if a <= d + 1 else f'missed by {a - d - 1:.2f} ms'}")
line("back to back (c=1)", a1, d1)
line("50 ms apart", a50, d50)
if lite8:
    print(f"Target, throughput at c=8: academy {chat8:.0f} req/s = {chat8 / lite8:.2f}x LiteLLM's {lite8:.0f} (target 3x)")
PY
echo "SSE meter (native): $(target/release/examples/sse_bench 2>/dev/null | tail -1)"
echo "CPU: $(target/release/examples/request_cpu)"
# A learner of its own, so its usage rows are exactly the mixed load's.
mixed_key=$(bench_learner "$base")
echo "Mixed load: $(node bench/mixed.mjs "$base" "$mixed_key" 2000 50)"
printf 'WASM: %s bytes raw, %s bytes gzip (%s)\n' "$raw" "$gz" "$(grep -o 'Total Upload:.*' "$out/dry-run.log" || true)"

# The gateway rows again under the `wrangler dev` CLI (DevTools inspector on), for comparison.
cport=$(free_port)
cbase="http://127.0.0.1:$cport"
npx wrangler d1 migrations apply DB --local -c wrangler.bench.toml --persist-to "$out/state-cli" >>"$out/migrations.log" 2>&1
setsid scripts/supervise.sh npx wrangler dev -c wrangler.bench.toml --local --ip 127.0.0.1 \
  --port "$cport" --inspector-port "$insp" --persist-to "$out/state-cli" --log-level warn \
  --show-interactive-dev-session=false --var "AI_GATEWAY_URL:$gateway" --var "ADMIN_TOKEN:$admin" \
  --var "SESSION_SECRET:bench-session-secret-0123456789" --var "COOKIE_SECURE:false" \
  >"$out/wrangler-cli.log" 2>&1 <"$out/alive" 3>&- &
wait_up "$cbase"
ckey=$(bench_learner "$cbase")
printf '\nThe same gateway rows under the `wrangler dev` CLI (inspector on; floor = its bare forwarding row):\n\n| row | c | req/s | p50 ms | p99 ms | p50 / floor |\n|---|---|---|---|---|---|\n'
floor8=""; floor1=""
measure "CLI: messages: bare forwarding worker|POST|$cbase/bench/forward|1|$up|" \
  "CLI: messages: bare forwarding + one D1 round trip|POST|$cbase/bench/forward-d1|1|$up|x-api-key: $ckey" \
  "CLI: messages: academy|POST|$cbase/v1/messages|1|$msg|x-api-key: $ckey" \
  "CLI: messages: bare forwarding worker|POST|$cbase/bench/forward|8|$up|" \
  "CLI: messages: bare forwarding + one D1 round trip|POST|$cbase/bench/forward-d1|8|$up|x-api-key: $ckey" \
  "CLI: messages: academy|POST|$cbase/v1/messages|8|$msg|x-api-key: $ckey"
