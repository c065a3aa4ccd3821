#!/usr/bin/env bash
# Installs the Debian packages dmgn needs (Debian 12 / Ubuntu 22.04+), only those missing.
set -euo pipefail
packages=(
  build-essential cmake git pkg-config clang                   # clang: the CUDA compile check
  libtorch-dev libgloo-dev libopencv-dev libtomlplusplus-dev libfmt-dev libsqlite3-dev
  libgtest-dev libcli11-dev libopenblas0-pthread libhdf5-dev
  python3 python3-numpy python3-matplotlib python3-skimage python3-torch
  libcpp-httplib-dev nlohmann-json3-dev                        # dmgn study serve, dmgn board
  libjs-d3                                                     # dmgn board's charts
  chromium chromium-driver python3-selenium fonts-dejavu-core  # their browser tests
  slurmctld slurmd slurm-client munge                          # the one-node Slurm test
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
