#!/usr/bin/env bash
# Installs everything the academy needs to build, run and test, on a machine that has only the
# Rust toolchain (rustup), Node 20 and npm. Idempotent: what is already installed is skipped.
# Nothing is downloaded from GitHub (TOOLCHAIN.md). Pass --tests to also install what the tests
# need (Debian's chromium for the browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

WORKER_BUILD_VERSION=0.8.7
# The CLI must equal the wasm-bindgen version locked in Cargo.lock.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# `worker-build --version` prints the bare version; `wasm-bindgen --version` prints "wasm-bindgen X".
if ! worker-build --version 2>/dev/null | grep -qw "$WORKER_BUILD_VERSION"; then
  step "installing worker-build $WORKER_BUILD_VERSION (about 5 minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qw "$WASM_BINDGEN_VERSION"; then
  step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm packages (wrangler, binaryen, test clients)"
  npm ci --no-audit --no-fund
fi

if [ "${1:-}" = "--tests" ] && ! command -v chromium >/dev/null 2>&1; then
  step "installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
