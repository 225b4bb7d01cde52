#!/bin/sh
# Run one node:test file with TAP output; skip cleanly when the pinned npm
# packages are not installed (`.ci/bootstrap test` installs them).
dir=$(dirname "$0")
if [ ! -d "$dir/node_modules" ] || ! command -v node >/dev/null 2>&1; then
  echo "1..0 # SKIP node or tests/js/node_modules missing (run: cd tests/js && npm ci)"
  exit 0
fi
exec node --test-reporter=tap "$dir/$1"
