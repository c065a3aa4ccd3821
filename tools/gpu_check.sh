#!/bin/bash
# The GPU check: on the lent GPU machine (device tool), from the repository root, with the
# bundle of tools/gpu_bundle.sh carried along:
#
#   here:   tools/gpu_bundle.sh            (once; writes the git-ignored .gpu_bundle/, ~14 MB)
#   device: run(command="tools/gpu_check.sh", carry=[".gpu_bundle"])
#
# 1. builds a minimal static OpenCV from the bundle (tools/build_opencv_static.sh);
# 2. builds dmgn against that machine's CUDA LibTorch 2.x (python3's torch, its NCCL) and
#    the bundle's Debian headers and libraries, into build-gpu/;
# 3. runs the test suite there (the Gpu.* cases run; everything else too);
# 4. `dmgn bench model` on CUDA in fp32 and bf16 (contiguous and channels-last),
#    the official code timed the same way (tools/peer_bench.py), and the ratios
#    (tools/peer_compare.py);
# 5. parity of outputs on imported weights on the GPU, fp32 (TF32 off), 256x256, <= 1e-3.
# Logs and the store land in $OUT (the device tool's output folder) or results/gpu_check/.
# Steps are independent: a failing step is reported and the next one still runs; the exit
# status is the number of failed steps.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B="$ROOT/.gpu_bundle"
O="${OUT:-$ROOT/results/gpu_check}"
mkdir -p "$O"
STORE="$O/gpu.sqlite"
J=$(nproc)
FAILED=0
step() {  # step NAME COMMAND...: runs, logs to $O/NAME.log, reports
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name: $*"
  if "$@" >"$O/$name.log" 2>&1; then
    echo "   ok ($((SECONDS - t0)) s)"
  else
    echo "   FAILED ($((SECONDS - t0)) s): last lines of $O/$name.log:"
    tail -15 "$O/$name.log" | sed 's/^/   | /'
    FAILED=$((FAILED + 1))
  fi
}

[ -d "$B/usr" ] || { echo "gpu_check: $B missing: run tools/gpu_bundle.sh here and carry .gpu_bundle" >&2; exit 100; }
PY=$(command -v python3)
export DMGN_PYTHON="$PY"  # figure scripts and tests: that machine's python3 has matplotlib and skimage
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)') || { echo "gpu_check: python3 has no torch" >&2; exit 100; }
NCCL_INC=$("$PY" -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "include"))' 2>/dev/null || true)
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", torch.cuda.nccl.version(), "device", torch.cuda.get_device_name(0))' | tee "$O/device.txt"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu --format=csv >>"$O/device.txt" 2>&1 || true

# The built-in dataset's photos (data.builtin.root defaults to Debian's python3-skimage path).
SK=/usr/lib/python3/dist-packages/skimage/data
if [ ! -d "$SK" ] && [ -d "$B/photos" ]; then mkdir -p "$(dirname "$SK")" && ln -s "$B/photos" "$SK"; fi

step opencv tools/build_opencv_static.sh "$B" "$J"
step configure cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  "-DCMAKE_PREFIX_PATH=$B/usr;$TORCH_PREFIX" "-DOpenCV_DIR=$B/opencv-static/lib/cmake/opencv4" \
  -DDMGN_WITH_HDF5=OFF "-DPython3_EXECUTABLE=$PY" ${NCCL_INC:+"-DCMAKE_CXX_FLAGS=-isystem $NCCL_INC"} \
  "-DCMAKE_BUILD_RPATH=$B/usr/lib/x86_64-linux-gnu"
step build cmake --build build-gpu -j "$J"
[ -x build-gpu/dmgn ] || { echo "gpu_check: no build-gpu/dmgn: stopping"; exit 100; }
D=build-gpu/dmgn
step gpu_tests bash -c "cd build-gpu && ctest -R '^(Gpu|Execution)\.' --output-on-failure"
step all_tests bash -c "cd build-gpu && ctest -j 8 --output-on-failure --timeout 900"

# Speed: ours (fp32, bf16; contiguous and channels-last), then the official code, same sizes.
CUDA=(--set 'runtime.device="cuda"' --set "runtime.store=\"$STORE\"")
BENCH=(--sizes 256,512 --repeats 20 --warmup 5 --precision fp32,bf16 --fwd-bwd-repeats 20 --train-batch 4 --train-size 256)
step bench_ours "$D" bench model experiments/table3.toml "${CUDA[@]}" "${BENCH[@]}" --train-steps 20
step bench_ours_cl "$D" bench model experiments/table3.toml "${CUDA[@]}" --set runtime.channels_last=true "${BENCH[@]}" --train-steps 20
if [ -f "$B/official/model_reflection.py" ]; then
  step bench_official "$PY" tools/peer_bench.py "$B/official" --device cuda --precision fp32 bf16 --sizes 256 512 \
    --repeats 20 --warmup 5 --fwd-bwd-repeats 20 --train-batch 4 --train-size 256 --store "$STORE"
  step compare "$PY" tools/peer_compare.py --store "$STORE"
  step parity_official "$PY" tools/official_parity.py "$B/official" "$O/parity" --size 256 --device cuda --tasks reflection rain haze
  for t in reflection rain haze; do
    step "parity_$t" "$D" parity "$O/parity" --task "$t" --tolerance 1e-3 --set 'runtime.device="cuda"'
  done
else
  echo "== official code not in the bundle: peer benchmark and parity skipped"; FAILED=$((FAILED + 1))
fi

echo
for f in bench_ours bench_ours_cl bench_official compare parity_reflection parity_rain parity_haze; do
  [ -f "$O/$f.log" ] && { echo "--- $f"; grep -v '^stored in' "$O/$f.log" | tail -14; }
done
echo "gpu_check: $FAILED failed step(s); logs and $STORE in $O"
exit "$FAILED"
