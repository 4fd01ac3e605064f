#!/bin/sh
# Runs a command and, when this script's stdin closes, kills its whole process group.
# The test harness starts `wrangler dev` through it in a new process group and holds the pipe:
# when the test process ends (pass, fail or killed), the pipe closes and no workerd outlives it.
"$@" </dev/null &
trap '' TERM
cat >/dev/null
kill -TERM 0 2>/dev/null
sleep 1
kill -KILL 0 2>/dev/null
