#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the worker once (release, as deployed), then
# `cargo test`: native unit tests of the pure modules and the integration tests, which start
# `wrangler dev` per test configuration against that build (plus a stub AI Gateway, the official
# SDKs and headless Chromium). Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false

scripts/setup.sh --tests
echo "==> building the worker"
scripts/build.sh
echo "==> cargo test"
cargo test --locked "$@"
echo "==> all tests passed in $(( $(date +%s) - start )) s"
