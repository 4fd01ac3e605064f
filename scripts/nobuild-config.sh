#!/usr/bin/env bash
# Prints a wrangler config without its [build] section (wrangler re-runs the build command every
# time it starts; the scripts build once themselves). Optional extra arguments name further
# top-level tables or arrays of tables to drop, e.g. r2_buckets for the missing-binding tests.
set -euo pipefail
file=$1; shift
drop="build $*"
awk -v drop="$drop" '
  BEGIN { n = split(drop, d, " "); for (i = 1; i <= n; i++) skipset[d[i]] = 1 }
  /^\[/ { name = $0; gsub(/[\[\] ]/, "", name); skip = (name in skipset) }
  !skip
' "$file"
