#!/usr/bin/env bash
# Set up and run the whole test suite (what .ci/run calls).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec python3 -m pytest -n 2 --dist loadgroup -q "$@"
