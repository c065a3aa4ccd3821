#!/bin/bash
# Builds a minimal static OpenCV (core, imgproc, imgcodecs with PNG and JPEG only) from the
# trimmed Debian source that tools/gpu_bundle.sh packs, against the static zlib, libpng and
# libjpeg it also packs. tools/gpu_bundle.sh runs it here and carries the result; gpu_check.sh
# runs it on the GPU machine only when the bundle has no prebuilt one.
#
#   [OPENCV_WORK=DIR] tools/build_opencv_static.sh BUNDLE_DIR [JOBS]
# OPENCV_WORK holds opencv-src.tar.xz, the unpacked source and the build tree (default: the
# bundle itself).
#
# Result: BUNDLE_DIR/opencv-static/ with include/opencv4 and lib/cmake/opencv4/OpenCVConfig.cmake
# (find_package(OpenCV) with -DOpenCV_DIR=BUNDLE_DIR/opencv-static/lib/cmake/opencv4). Nothing
# is downloaded: every optional dependency that OpenCV would fetch (IPP, ADE, ...) is off.
set -euo pipefail
B=$(cd "${1:?usage: build_opencv_static.sh BUNDLE_DIR [JOBS]}" && pwd)
J=${2:-$(nproc)}
P="$B/usr"
WORK=${OPENCV_WORK:-$B}
SRC="$WORK/opencv-src"
OUT="$B/opencv-static"
[ -f "$OUT/lib/cmake/opencv4/OpenCVConfig.cmake" ] && { echo "opencv-static: already built ($OUT)"; exit 0; }
[ -d "$SRC" ] || { mkdir -p "$SRC" && tar -xJf "$WORK/opencv-src.tar.xz" -C "$SRC"; }
# The trimmed source has no doc/ and data/ (install-only); OpenCV adds them unconditionally.
for d in doc data; do mkdir -p "$SRC/$d"; [ -f "$SRC/$d/CMakeLists.txt" ] || : >"$SRC/$d/CMakeLists.txt"; done
L="$P/lib/x86_64-linux-gnu"
cmake -S "$SRC" -B "$WORK/opencv-build" -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$OUT" -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DBUILD_SHARED_LIBS=OFF -DBUILD_LIST=core,imgproc,imgcodecs \
  -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_DOCS=OFF -DBUILD_opencv_apps=OFF \
  -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF -DBUILD_opencv_python2=OFF -DOPENCV_GENERATE_PKGCONFIG=OFF \
  -DBUILD_ZLIB=OFF -DBUILD_PNG=OFF -DBUILD_JPEG=OFF -DBUILD_TIFF=OFF -DBUILD_WEBP=OFF -DBUILD_OPENJPEG=OFF \
  -DBUILD_OPENEXR=OFF -DBUILD_ITT=OFF -DBUILD_IPP_IW=OFF -DBUILD_PROTOBUF=OFF \
  -DWITH_PNG=ON -DWITH_JPEG=ON -DWITH_TIFF=OFF -DWITH_WEBP=OFF -DWITH_OPENJPEG=OFF -DWITH_JASPER=OFF \
  -DWITH_OPENEXR=OFF -DWITH_IMGCODEC_HDR=OFF -DWITH_IMGCODEC_SUNRASTER=OFF -DWITH_IMGCODEC_PXM=ON \
  -DWITH_IMGCODEC_PFM=OFF -DWITH_SPNG=OFF -DWITH_GDAL=OFF -DWITH_GDCM=OFF \
  -DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_TBB=OFF -DWITH_OPENMP=OFF -DWITH_PTHREADS_PF=ON -DWITH_EIGEN=OFF \
  -DWITH_LAPACK=OFF -DWITH_OPENCL=OFF -DWITH_CUDA=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF -DWITH_OPENGL=OFF \
  -DWITH_QT=OFF -DWITH_GTK=OFF -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_1394=OFF \
  -DWITH_ADE=OFF -DWITH_PROTOBUF=OFF -DWITH_QUIRC=OFF -DWITH_CAROTENE=OFF -DWITH_VULKAN=OFF -DWITH_ONNX=OFF \
  -DCV_TRACE=OFF -DCPU_BASELINE=AVX2 -DCPU_DISPATCH=AVX512_SKX \
  -DZLIB_INCLUDE_DIR="$P/include" -DZLIB_LIBRARY="$L/libz.a" \
  -DPNG_PNG_INCLUDE_DIR="$P/include/libpng16" -DPNG_LIBRARY="$L/libpng16.a" \
  -DJPEG_INCLUDE_DIR="$P/include" -DJPEG_LIBRARY="$L/libjpeg.a" \
  -DCMAKE_CXX_FLAGS="-I$P/include/x86_64-linux-gnu" >"$WORK/opencv-configure.log" 2>&1 \
  || { tail -30 "$WORK/opencv-configure.log"; exit 1; }
cmake --build "$WORK/opencv-build" -j "$J" >"$WORK/opencv-build.log" 2>&1 || { tail -30 "$WORK/opencv-build.log"; exit 1; }
cmake --install "$WORK/opencv-build" >/dev/null
echo "opencv-static: $OUT ($(du -sh "$OUT" | cut -f1))"
