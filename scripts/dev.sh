#!/usr/bin/env bash
# Runs the academy locally at http://localhost:8787: installs what is missing, builds the worker,
# applies the migrations to the local D1, and starts `wrangler dev` (offline demo model unless
# AI_GATEWAY_URL is set). State persists in .wrangler/state between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false

scripts/setup.sh
if [ ! -f .dev.vars ]; then
  echo "==> creating .dev.vars with fresh local secrets (see .dev.vars.example)"
  sed -e "s/^SESSION_SECRET=.*/SESSION_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')/" \
      -e "s/^ADMIN_TOKEN=.*/ADMIN_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')/" \
      .dev.vars.example > .dev.vars
  echo "    your local ADMIN_TOKEN is in .dev.vars"
fi
echo "==> building the worker"
scripts/build.sh
scripts/nobuild-config.sh wrangler.toml > wrangler.nobuild.toml
echo "==> applying migrations to the local D1"
npx wrangler d1 migrations apply DB --local -c wrangler.nobuild.toml
echo "==> serving http://localhost:8787"
exec npx wrangler dev -c wrangler.nobuild.toml --local --port "${PORT:-8787}" --show-interactive-dev-session=false
