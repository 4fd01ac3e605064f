#!/usr/bin/env bash
# Builds the worker (release, as deployed) into build/. worker-build would download wasm-bindgen,
# wasm-opt and esbuild from GitHub; these variables point it at the installed ones instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export WASM_BINDGEN_BIN=wasm-bindgen
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
exec worker-build --release "$@"
