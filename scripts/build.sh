#!/usr/bin/env bash
# Configures and builds dmgn (Release) in build/ with Debian's LibTorch; extra CMake args pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=/usr/bin/python3 "$@"
cmake --build build -j"$jobs"
