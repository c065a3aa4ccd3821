#!/bin/bash
# Prepares .gpu_bundle/: what the GPU machine (device tool) lacks to build and test dmgn,
# taken from this machine's Debian packages, to travel with the tree (`carry: [".gpu_bundle"]`,
# 64 MiB cap for everything). The GPU machine has CUDA LibTorch 2.x, NCCL, CMake, ninja and a
# compiler (through its python3 torch), but no Debian -dev packages and no network.
#
#   tools/gpu_bundle.sh [OFFICIAL_REPO_DIR [LASIRR_DIR [PHYSICSGAN_DIR [MBN_DIR]]]]
#       (defaults third_party/official_dmgn, third_party/lasirr, third_party/physicsgan,
#       third_party/mbn; "" keeps a default)
#   GPU_BUNDLE_CODE_ONLY=1 tools/gpu_bundle.sh ...   only (re)copies the reference code below
#
# Contents (a relocatable usr/ prefix; the packages' CMake configs find their files relative
# to themselves):
#   usr/include, usr/lib/x86_64-linux-gnu  headers and static libraries: TOML++ and CLI11
#       (header-only), fmt (headers + libfmt.so.9, 125 KB), SQLite (libsqlite3.a),
#       GoogleTest/GoogleMock (static), zlib, libpng, libjpeg (static, for OpenCV);
#   opencv-static/  a minimal static OpenCV 4.6 (core, imgproc, imgcodecs; PNG, JPEG, BMP, PxM
#       codecs) built HERE by tools/build_opencv_static.sh from Debian's source (`apt-get source
#       opencv`, trimmed, kept as opencv-src.tar.xz outside the carried folder's build), installed
#       without its build tree: the GPU machine links it instead of spending ~75 s of its lease
#       building it (gcc 12 objects link with the gcc 13 there; opencv-static.root records the
#       path its CMake files name, which gpu_check.sh rewrites). OpenCV choice: a minimal static
#       build rather than a pre-decoded tensor format, so the GPU build runs the same data
#       pipeline (synthesis, augmentation, image files) as CI;
#   photos/  the built-in dataset's 12 photos (python3-skimage's data folder);
#   official/  the official DMGN code's model files (peer benchmark and parity; never
#       committed: .gpu_bundle/ is git-ignored);
#   lasirr/, physicsgan/, mbn/  the Python files of the other systems' reference code that
#       tools/peer_bench_systems.py and the parity tools import (Location-aware SIRR's
#       location_aware_sirr_model.py; Physics-GAN's models/__init__.py and networks.py; MBN's
#       pietorch/ package without its data converters), ~110 KB: no checkpoints, no images.
#       A repository that is absent is a warning, not a failure (its peer benchmark is skipped).
# Needs: the Debian packages of scripts/setup.sh, plus zlib1g-dev libpng-dev
# libjpeg62-turbo-dev, and a Debian source entry reachable by apt (deb.debian.org).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OFFICIAL=${1:-$ROOT/third_party/official_dmgn}
LASIRR=${2:-$ROOT/third_party/lasirr}
PHYSICSGAN=${3:-$ROOT/third_party/physicsgan}
MBN=${4:-$ROOT/third_party/mbn}
B="$ROOT/.gpu_bundle"

# The reference code of the other systems: copy_code NAME REPO FILE... copies FILEs (paths
# inside REPO) to $B/NAME/, replacing what an earlier bundle had there.
copy_code() {
  local name=$1 repo=$2 f
  shift 2
  for f in "$@"; do
    if [ ! -f "$repo/$f" ]; then
      echo "gpu_bundle: warning: no $name reference code at $repo ($f missing): its peer benchmark will be skipped" >&2
      return 0
    fi
  done
  rm -rf "${B:?}/$name"
  for f in "$@"; do
    mkdir -p "$B/$name/$(dirname "$f")"
    cp "$repo/$f" "$B/$name/$f"
  done
}
bundle_code() {
  copy_code lasirr "$LASIRR" location_aware_sirr_model.py
  copy_code physicsgan "$PHYSICSGAN" models/__init__.py models/networks.py
  copy_code mbn "$MBN" pietorch/__init__.py pietorch/M_DuRN.py pietorch/DuRBs.py pietorch/N_modules.py \
    pietorch/utils.py
}
if [ -n "${GPU_BUNDLE_CODE_ONLY:-}" ]; then
  mkdir -p "$B"
  bundle_code
  echo "gpu_bundle: reference code in $B: $(cd "$B" && du -sh lasirr physicsgan mbn 2>/dev/null | tr '\t\n' ': ')"
  exit 0
fi
P="$B/usr"
L=/usr/lib/x86_64-linux-gnu
mkdir -p "$P/include/x86_64-linux-gnu" "$P/lib/x86_64-linux-gnu/cmake" "$P/share/cmake"

for pkg in libfmt-dev libtomlplusplus-dev libcli11-dev libsqlite3-dev libgtest-dev zlib1g-dev libpng-dev \
           libjpeg62-turbo-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 ||
    { echo "gpu_bundle: Debian package $pkg is not installed (apt-get install $pkg)" >&2; exit 1; }
done

# Header-only / headers.
cp -a /usr/include/fmt /usr/include/toml++ /usr/include/CLI /usr/include/gtest /usr/include/gmock "$P/include/"
cp -a /usr/include/sqlite3.h /usr/include/sqlite3ext.h /usr/include/zlib.h /usr/include/zconf.h \
      /usr/include/jpeglib.h /usr/include/jerror.h /usr/include/jmorecfg.h /usr/include/libpng16 "$P/include/"
cp -a /usr/include/x86_64-linux-gnu/jconfig.h "$P/include/x86_64-linux-gnu/"
# Libraries.
cp -a $L/libfmt.so $L/libfmt.so.9 $L/libfmt.so.9.1.0 $L/libsqlite3.a $L/libgtest.a $L/libgtest_main.a \
      $L/libgmock.a $L/libgmock_main.a $L/libz.a $L/libpng16.a $L/libjpeg.a "$P/lib/x86_64-linux-gnu/"
# CMake package configs (relocatable).
cp -a $L/cmake/fmt $L/cmake/tomlplusplus $L/cmake/GTest "$P/lib/x86_64-linux-gnu/cmake/"
cp -a /usr/share/cmake/CLI11 "$P/share/cmake/"

# OpenCV source, trimmed, then built and installed into the bundle (the build tree and the
# source stay out of what is carried: .gpu_bundle_work/).
SRCW="$ROOT/.gpu_bundle_work"
mkdir -p "$SRCW"
[ -f "$B/opencv-src.tar.xz" ] && mv "$B/opencv-src.tar.xz" "$SRCW/"
if [ ! -f "$SRCW/opencv-src.tar.xz" ]; then
  T=$(mktemp -d)
  trap 'rm -rf "$T"' EXIT
  mkdir -p "$T/lists/partial"
  echo "deb-src http://deb.debian.org/debian bookworm main" >"$T/src.list"
  O=(-o "Dir::Etc::SourceList=$T/src.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$T/lists")
  (cd "$T" && apt-get "${O[@]}" update -qq && apt-get "${O[@]}" source --download-only -qq opencv) \
    || { echo "gpu_bundle: could not download Debian's OpenCV source (apt-get source opencv)" >&2; exit 1; }
  mkdir -p "$T/x"
  tar -xJf "$T"/opencv_*.orig.tar.xz -C "$T/x"
  S=$(ls -d "$T"/x/opencv-*)
  tar -cJf "$SRCW/opencv-src.tar.xz" -C "$S" --exclude='modules/*/test' --exclude='modules/*/perf' \
      --exclude='modules/*/doc' --exclude='modules/*/misc' \
      CMakeLists.txt LICENSE cmake include platforms/scripts modules/core modules/imgproc modules/imgcodecs
fi
if [ ! -f "$B/opencv-static/lib/cmake/opencv4/OpenCVConfig.cmake" ]; then
  OPENCV_WORK="$SRCW" "$ROOT/tools/build_opencv_static.sh" "$B" "$(nproc)"
fi
echo "$B" >"$B/opencv-static.root"

# The built-in dataset's photos (data.builtin.photos; Debian's python3-skimage).
SK=/usr/lib/python3/dist-packages/skimage/data
mkdir -p "$B/photos"
for f in astronaut.png chelsea.png coffee.png motorcycle_left.png rocket.jpg camera.png moon.png coins.png \
         brick.png grass.png gravel.png clock_motion.png; do
  cp "$SK/$f" "$B/photos/" || { echo "gpu_bundle: $SK/$f missing (apt-get install python3-skimage)" >&2; exit 1; }
done

# The official code's model files (imported by tools/peer_bench.py and tools/official_parity.py).
if [ -f "$OFFICIAL/model_reflection.py" ]; then
  mkdir -p "$B/official"
  cp "$OFFICIAL"/model_reflection.py "$OFFICIAL"/model_deraining.py "$OFFICIAL"/model_dehazing.py \
     "$OFFICIAL"/vgg.py "$B/official/"
else
  echo "gpu_bundle: warning: no official DMGN code at $OFFICIAL: the peer benchmark will be skipped" >&2
fi
bundle_code

echo "gpu_bundle: $B $(du -sh "$B" | cut -f1) (carry it: the tree and every carried path together must stay" \
     "under 64 MiB)"
