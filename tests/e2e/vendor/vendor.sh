#!/usr/bin/env bash
# Re-create tests/e2e/vendor from the npm registry: axe-core, the accessibility engine the browser tests
# run in every page (tests only; never served). Committed, so `make test` needs no network.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent axe-core@4.14.1 >/dev/null
tar -xzf axe-core-4.14.1.tgz
cp package/axe.min.js "$here/axe-4.14.1.min.js"
cp package/LICENSE "$here/LICENSE-axe-core.txt"
ls -la "$here"
