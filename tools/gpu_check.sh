#!/bin/bash
# The GPU check, in one device call from a bare machine (about 9 minutes of the call's 10, the
# start not counted): on the lent GPU machine (device tool), from the repository root, with the
# bundle of tools/gpu_bundle.sh carried along:
#
#   here:   tools/gpu_bundle.sh            (once; writes the git-ignored .gpu_bundle/, ~31 MB)
#   device: run(command="tools/gpu_check.sh", carry=[".gpu_bundle"], timeout_s=600)
#
# Steps (GPU_CHECK_STEPS selects a subset, default all but nan, in this order; GPU_CHECK_TARGET
# builds one CMake target only, e.g. dmgn):
#   build    configure and build dmgn + tests against python3's CUDA LibTorch 2.x (its fmt, its
#            NCCL) and the bundle's prebuilt static OpenCV and Debian headers, into build-gpu/;
#   gputests the Gpu.*, Execution.*, MetricsSpec.*, Distributed.*, Polyphase.*, Model.Head* and
#            Build.Std* cases (GPU_CHECK_TESTS: another ctest -R regex);
#   bench    `dmgn bench model` on CUDA, fp32 and bf16, eager and as CUDA graphs: first the way
#            we expect fastest (channels-last, runtime.head_taps="always") with the training
#            step and a kernel profile at 512 (--profile), then the official code timed and
#            profiled the same way (tools/peer_bench.py) and the ratios (tools/peer_compare.py:
#            ours = the fastest way of running); after train and parity, the other layouts and
#            head_taps="never", while the budget lasts, and the ratios again;
#   nan      the paper-size training step under variations (TF32 off, cuDNN search off, no
#            critic, no NDM normalisation...), one line each: only when asked for;
#   train    a quickstart-sized run on CUDA started by torchrun, killed (SIGKILL) after its
#            first checkpoint, resumed to the end, and found completed in the store;
#   parity   our outputs vs the official code's on imported weights, on the GPU (fp32, TF32 off),
#            for the three tasks and for reflection with the head's polyphase taps;
#   suite    the rest of the test suite, in what is left of GPU_CHECK_BUDGET (540) seconds since
#            the start (each test capped).
# Results, at most 8 files in $OUT (the device tool's output folder; results/gpu_check/
# elsewhere): summary.txt (what is printed last), logs.tar.gz (every step's log), gpu.sqlite
# (the store: benchmark rows of both implementations, the training run). A step that fails is
# reported and the next one still runs (a failed build stops only what needs the binaries);
# the exit status is the number of failed steps.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B="$ROOT/.gpu_bundle"
O="${OUT:-$ROOT/results/gpu_check}"
L="$ROOT/results/gpu_check_logs"
rm -rf "$L"
mkdir -p "$O" "$L"
STORE="$O/gpu.sqlite"
SUMMARY="$O/summary.txt"
: >"$SUMMARY"
J=$(nproc)
FAILED=0
T_START=$SECONDS
STEPS=" ${GPU_CHECK_STEPS:-build gputests bench train parity suite} "
want() { [[ "$STEPS" == *" $1 "* ]]; }
say() { echo "$*" | tee -a "$SUMMARY"; }
pack() { tar -czf "$O/logs.tar.gz" --exclude='*.ckpt' --exclude='runs' --exclude='parity' -C "$L" . 2>/dev/null; }
trap pack EXIT
step() {  # step NAME LIMIT_S COMMAND...: runs with a time limit, logs to $L/NAME.log, reports
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  echo "== $name: $*" >>"$L/commands.txt"
  if timeout -k 10 "$limit" "$@" >"$L/$name.log" 2>&1; then
    say "   ok      $name ($((SECONDS - t0)) s)"
  else
    local rc=$?
    say "   FAILED  $name ($((SECONDS - t0)) s, exit $rc$([ $rc -eq 124 ] && echo ", time limit ${limit} s")): last lines:"
    tail -12 "$L/$name.log" | sed 's/^/   | /' | tee -a "$SUMMARY"
    FAILED=$((FAILED + 1))
  fi
}

[ -d "$B/usr" ] || { echo "gpu_check: $B missing: run tools/gpu_bundle.sh here and carry .gpu_bundle" >&2; exit 100; }
PY=$(command -v python3)
export DMGN_PYTHON="$PY"  # figure scripts and tests: that machine's python3 has matplotlib and skimage
export PYTHONUNBUFFERED=1
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)') || { echo "gpu_check: python3 has no torch" >&2; exit 100; }
NCCL_INC=$("$PY" -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "include"))' 2>/dev/null || true)
say "gpu_check $(git rev-parse --short=12 HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+changes') on $(hostname), $J cores"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "nccl", torch.cuda.nccl.version(), "device", torch.cuda.get_device_name(0))' 2>&1 | tee -a "$SUMMARY"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu,memory.used --format=csv,noheader 2>&1 | tee -a "$SUMMARY"

# The built-in dataset's photos (data.builtin.root defaults to Debian's python3-skimage path).
SK=/usr/lib/python3/dist-packages/skimage/data
if [ ! -d "$SK" ] && [ -d "$B/photos" ]; then mkdir -p "$(dirname "$SK")" && ln -s "$B/photos" "$SK"; fi

# The prebuilt OpenCV's CMake files name the bundle's libraries by the path it was built at.
OCV="$B/opencv-static"
if [ -f "$B/opencv-static.root" ]; then
  OLD=$(cat "$B/opencv-static.root")
  [ "$OLD" != "$B" ] && grep -rl --null "$OLD" "$OCV/lib/cmake" | xargs -0 -r sed -i "s|$OLD|$B|g"
  echo "$B" >"$B/opencv-static.root"
fi

D=build-gpu/dmgn
if want build; then
  [ -f "$OCV/lib/cmake/opencv4/OpenCVConfig.cmake" ] || step opencv 300 tools/build_opencv_static.sh "$B" "$J"
  step configure 120 cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_PREFIX_PATH=$B/usr;$TORCH_PREFIX" "-DOpenCV_DIR=$OCV/lib/cmake/opencv4" \
    -DDMGN_WITH_HDF5=OFF "-DPython3_EXECUTABLE=$PY" ${NCCL_INC:+"-DCMAKE_CXX_FLAGS=-isystem $NCCL_INC"}
  step build 400 cmake --build build-gpu -j "$J" ${GPU_CHECK_TARGET:+--target "$GPU_CHECK_TARGET"}
fi
[ -x "$D" ] || { say "gpu_check: no $D: the steps that need it are skipped"; FAILED=$((FAILED + 1)); STEPS=" "; }

CUDA=(--set 'runtime.device="cuda"' --set "runtime.store=\"$STORE\"")
BENCH=(--sizes 256,512 --repeats 20 --warmup 5 --precision fp32,bf16 --fwd-bwd-repeats 20 --train-batch 4 --train-size 256)
left() { echo $((${GPU_CHECK_BUDGET:-540} - (SECONDS - T_START))); }
if want gputests; then
  step gputests 120 bash -c "cd build-gpu && ctest -R '${GPU_CHECK_TESTS:-^(Gpu|Execution|MetricsSpec|Distributed|Polyphase)\.|^Model\.Head|^Build\.Std}' -j 8 --output-on-failure --timeout 90"
fi
if want bench; then
  # Ours as we expect it fastest (channels-last, the head's polyphase taps also in training),
  # with the training step and a kernel profile at 512; the official code timed and profiled
  # the same way; the ratios. Then the other ways of running, as far as the budget goes.
  step bench_ours 200 "$D" bench model experiments/table3.toml "${CUDA[@]}" --set runtime.channels_last=true \
    --set 'runtime.head_taps="always"' "${BENCH[@]}" --train-steps 20 --profile 512
  if [ -f "$B/official/model_reflection.py" ]; then
    step bench_official 120 "$PY" tools/peer_bench.py "$B/official" --device cuda --precision fp32 bf16 --sizes 256 512 \
      --repeats 20 --warmup 5 --fwd-bwd-repeats 20 --train-batch 4 --train-size 256 --store "$STORE" --profile-size 512
    step compare 30 "$PY" tools/peer_compare.py --store "$STORE"
  else
    say "   FAILED  official code not in the bundle: peer benchmark skipped"; FAILED=$((FAILED + 1))
  fi
fi
if want nan; then
  step nan_matrix 240 tools/gpu_nan_matrix.sh "$D"
fi
if want train; then
  step train_cuda 150 tools/gpu_train_check.sh "$D" "$STORE" "$L/train"
fi
if want parity && [ -f "$B/official/model_reflection.py" ]; then
  step parity_official 90 "$PY" tools/official_parity.py "$B/official" "$L/parity" --size 256 --device cuda --tasks reflection rain haze
  for t in reflection rain haze; do
    step "parity_$t" 60 "$D" parity "$L/parity" --task "$t" --tolerance 1e-3 --set 'runtime.device="cuda"'
  done
  step parity_taps 60 "$D" parity "$L/parity" --task reflection --tolerance 1e-3 --set 'runtime.device="cuda"' \
    --set 'runtime.head_taps="always"'
  rm -rf "$L/parity"
fi
if want bench; then
  VARIANTS=("contiguous taps=always|--set runtime.channels_last=false --set 'runtime.head_taps=\"always\"'"
            "channels-last taps=never|--set runtime.channels_last=true --set 'runtime.head_taps=\"never\"'"
            "contiguous taps=never|--set runtime.channels_last=false --set 'runtime.head_taps=\"never\"'")
  i=0
  for v in "${VARIANTS[@]}"; do
    i=$((i + 1))
    if [ "$(left)" -lt 100 ]; then say "   SKIPPED bench variant '${v%%|*}': $(left) s left"; continue; fi
    # shellcheck disable=SC2086
    eval "step bench_variant$i 90 \"\$D\" bench model experiments/table3.toml \"\${CUDA[@]}\" ${v#*|} \"\${BENCH[@]}\" --no-peak"
  done
  [ -f "$B/official/model_reflection.py" ] && step compare_all 30 "$PY" tools/peer_compare.py --store "$STORE"
fi

if want suite; then
  if [ "$(left)" -gt 60 ]; then
    step suite "$(left)" bash -c "cd build-gpu && ctest -j $J --output-on-failure --timeout 100 -E '^(Gpu|Execution|MetricsSpec|Distributed)\.'"
  else
    say "   SKIPPED suite: $(left) s left of the check's ${GPU_CHECK_BUDGET:-540}"
  fi
fi

{
  echo
  for f in gputests bench_ours bench_official compare nan_matrix train_cuda parity_reflection parity_rain parity_haze \
           parity_taps bench_variant1 bench_variant2 bench_variant3 compare_all; do
    [ -f "$L/$f.log" ] && { echo "--- $f"; grep -v '^stored in' "$L/$f.log" | grep -v '^\[rank' | tail -90; }
  done
  [ -f "$L/suite.log" ] && { echo "--- suite"; grep -E "tests passed|Failed|SEGFAULT|Not Run|Timeout|\*\*\*|Skipped|skipped" "$L/suite.log" | tail -30; }
  echo "gpu_check: $FAILED failed step(s) in $((SECONDS - T_START)) s; logs in logs.tar.gz, store gpu.sqlite"
} | tee -a "$SUMMARY"
exit "$FAILED"
