#!/usr/bin/env bash
# The main job end to end: install dependencies, build, train a small DMGN on the built-in
# reflection data, evaluate it on the held-out split against the identity baseline, log the
# run to results/runs.sqlite and print the regenerated Table I.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
./build/dmgn train experiments/quickstart.toml "$@"
./build/dmgn runs --experiment table1
./build/dmgn report table1
